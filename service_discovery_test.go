package mqttrpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

type reading struct {
	Sensor string `json:"sensor"`
}

type temperature struct {
	Celsius float64 `json:"celsius"`
}

// fleet is three instances of two services: thermo on a and b, lights on a,
// each Broker with a discovery prefix of the test's own.
type fleet struct {
	prefix               string
	a, b, cli            *mqttrpc.Broker
	thermoA, thermoB     *mqttrpc.Service
	lights               *mqttrpc.Service
	readTopic, failTopic string
}

func newFleet(t *testing.T, tg target) *fleet {
	t.Helper()
	ctx := ctxTimeout(t, 10*time.Second)
	f := &fleet{prefix: uniqueTopic(t, "srv")}
	opt := mqttrpc.WithDiscoveryPrefix(f.prefix)
	f.a, f.b, f.cli = connect(t, tg, opt, mqttrpc.WithSchemaGenerator(titleSchema)), connect(t, tg, opt), connect(t, tg, opt)
	base := uniqueTopic(t, "site")
	f.readTopic, f.failTopic = base+"/a/thermo/s1/read", base+"/a/thermo/fail"

	var err error
	for _, s := range []struct {
		b   *mqttrpc.Broker
		svc **mqttrpc.Service
		at  string
	}{{f.a, &f.thermoA, "a"}, {f.b, &f.thermoB, "b"}} {
		*s.svc, err = s.b.Service(ctx, mqttrpc.ServiceConfig{
			Name: "thermo", Version: "1.2.0", Description: "reads thermometers", Metadata: map[string]string{"site": s.at},
		})
		require.NoError(t, err)
		_, err = (*s.svc).Endpoint(ctx, "read", base+"/"+s.at+"/thermo/{sensor}/read",
			mqttrpc.Typed(func(ctx context.Context, in reading) (temperature, error) {
				return temperature{Celsius: 21.5}, nil
			}), mqttrpc.EndpointMetadata(map[string]string{"unit": "celsius"}))
		require.NoError(t, err)
		_, err = (*s.svc).Endpoint(ctx, "fail", base+"/"+s.at+"/thermo/fail",
			mqttrpc.HandlerFunc(func(context.Context, *mqttrpc.Message) (*mqttrpc.Response, error) {
				return nil, mqttrpc.Errorf(409, "sensor busy")
			}), mqttrpc.EndpointSchema("Empty", "https://example.com/schemas/none.json"),
			mqttrpc.EndpointSchemaJSON(json.RawMessage(`{"type":"null"}`), nil))
		require.NoError(t, err)
	}
	f.lights, err = f.a.Service(ctx, mqttrpc.ServiceConfig{Name: "lights", Version: "0.1.0-beta.1"})
	require.NoError(t, err)
	_, err = f.lights.Endpoint(ctx, "switch", base+"/a/lights/{room}", mqttrpc.Typed(echo))
	require.NoError(t, err)
	return f
}

// titleSchema is a SchemaGenerator that names the type: the core has no
// real one, which lives in the asyncapi module.
func titleSchema(t reflect.Type) (json.RawMessage, error) {
	return json.Marshal(map[string]string{"title": t.String()})
}

// ids collects the ids that Discover yields for T, failing on any error.
func ids[T mqttrpc.ServicePing | mqttrpc.ServiceInfo | mqttrpc.ServiceStats | mqttrpc.ServiceSchemas](t *testing.T, b *mqttrpc.Broker, name, id string, opts ...mqttrpc.RequestOption) (out []string, replies []*T) {
	t.Helper()
	for r, err := range mqttrpc.Discover[T](ctxTimeout(t, 10*time.Second), b, name, id, opts...) {
		require.NoError(t, err)
		replies = append(replies, r)
		switch v := any(r).(type) {
		case *mqttrpc.ServicePing:
			out = append(out, v.Name+"/"+v.ID)
		case *mqttrpc.ServiceInfo:
			out = append(out, v.Name+"/"+v.ID)
		case *mqttrpc.ServiceStats:
			out = append(out, v.Name+"/"+v.ID)
		case *mqttrpc.ServiceSchemas:
			out = append(out, v.Name+"/"+v.ID)
		}
	}
	sort.Strings(out)
	return out, replies
}

func sorted(s ...string) []string { sort.Strings(s); return s }

func TestDiscovery(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		t.Parallel()
		f := newFleet(t, tg)
		id := func(s *mqttrpc.Service) string { return s.Name() + "/" + s.ID() }
		all := sorted(id(f.thermoA), id(f.thermoB), id(f.lights))

		t.Run("PING every service", func(t *testing.T) {
			got, pings := ids[mqttrpc.ServicePing](t, f.cli, "", "", mqttrpc.MaxReplies(3))
			assert.Equal(t, all, got)
			for _, p := range pings {
				assert.Equal(t, "io.mqttrpc.srv.v1.ping_response", p.Type)
				assert.NotNil(t, p.Metadata)
			}
		})
		t.Run("PING by name", func(t *testing.T) {
			got, _ := ids[mqttrpc.ServicePing](t, f.cli, "thermo", "", mqttrpc.MaxReplies(2))
			assert.Equal(t, sorted(id(f.thermoA), id(f.thermoB)), got)
		})
		t.Run("PING by id", func(t *testing.T) {
			got, pings := ids[mqttrpc.ServicePing](t, f.cli, "thermo", f.thermoB.ID())
			assert.Equal(t, []string{id(f.thermoB)}, got)
			assert.Equal(t, "1.2.0", pings[0].Version)
			assert.Equal(t, map[string]string{"site": "b"}, pings[0].Metadata)
		})
		t.Run("nobody else answers", func(t *testing.T) {
			got, _ := ids[mqttrpc.ServicePing](t, f.cli, "", "", mqttrpc.Timeout(time.Second))
			assert.Equal(t, all, got, "until the deadline, still three")
			got, _ = ids[mqttrpc.ServicePing](t, f.cli, "nosuch", "", mqttrpc.Timeout(300*time.Millisecond))
			assert.Empty(t, got)
		})
		t.Run("INFO", func(t *testing.T) {
			_, infos := ids[mqttrpc.ServiceInfo](t, f.cli, "thermo", f.thermoA.ID())
			require.Len(t, infos, 1)
			info := infos[0]
			assert.Equal(t, "io.mqttrpc.srv.v1.info_response", info.Type)
			assert.Equal(t, "reads thermometers", info.Description)
			require.Len(t, info.Endpoints, 2)
			read, fail := info.Endpoints[0], info.Endpoints[1]
			assert.Equal(t, "read", read.Name)
			assert.True(t, strings.HasSuffix(read.Pattern, "/a/thermo/{sensor}/read"), read.Pattern)
			assert.True(t, strings.HasSuffix(read.Filter, "/a/thermo/+/read"), read.Filter)
			assert.Equal(t, map[string]string{"unit": "celsius"}, read.Metadata)
			assert.Equal(t, "mqttrpc_test.reading", read.RequestSchema, "a Typed handler's types")
			assert.Equal(t, "mqttrpc_test.temperature", read.ResponseSchema)
			assert.Equal(t, "fail", fail.Name)
			assert.Equal(t, "Empty", fail.RequestSchema)
			assert.Equal(t, "https://example.com/schemas/none.json", fail.ResponseSchema)
			assert.Equal(t, map[string]string{}, fail.Metadata)
			assert.Nil(t, read.RequestSchemaJSON, "INFO stays small: the schemas come with SCHEMA")
			assert.Nil(t, fail.RequestSchemaJSON)

			_, infos = ids[mqttrpc.ServiceInfo](t, f.cli, "lights", "", mqttrpc.MaxReplies(1))
			require.Len(t, infos, 1)
			assert.Equal(t, "string", infos[0].Endpoints[0].RequestSchema)
			assert.Equal(t, "0.1.0-beta.1", infos[0].Version)
		})
		t.Run("SCHEMA", func(t *testing.T) {
			_, got := ids[mqttrpc.ServiceSchemas](t, f.cli, "thermo", f.thermoA.ID())
			require.Len(t, got, 1)
			s := got[0]
			assert.Equal(t, "io.mqttrpc.srv.v1.schema_response", s.Type)
			assert.Equal(t, "reads thermometers", s.Description)
			require.Len(t, s.Endpoints, 2)
			read, fail := s.Endpoints[0], s.Endpoints[1]
			assert.Equal(t, "mqttrpc_test.reading", read.RequestSchema, "what INFO says, too")
			assert.Equal(t, map[string]string{"unit": "celsius"}, read.Metadata)
			assert.JSONEq(t, `{"title":"mqttrpc_test.reading"}`, string(read.RequestSchemaJSON), "the Broker's generator")
			assert.JSONEq(t, `{"title":"mqttrpc_test.temperature"}`, string(read.ResponseSchemaJSON))
			assert.JSONEq(t, `{"type":"null"}`, string(fail.RequestSchemaJSON), "EndpointSchemaJSON, for a raw handler")
			assert.Nil(t, fail.ResponseSchemaJSON)
			local := f.thermoA.Schemas()
			assert.Equal(t, local.Endpoints[0].RequestSchemaJSON, read.RequestSchemaJSON, "the same as the local view")

			_, got = ids[mqttrpc.ServiceSchemas](t, f.cli, "thermo", f.thermoB.ID())
			require.Len(t, got, 1)
			assert.Nil(t, got[0].Endpoints[0].RequestSchemaJSON, "no generator on b: names only")
			assert.JSONEq(t, `{"type":"null"}`, string(got[0].Endpoints[1].RequestSchemaJSON))
		})
		t.Run("STATS change after calls", func(t *testing.T) {
			_, before := ids[mqttrpc.ServiceStats](t, f.cli, "thermo", f.thermoA.ID())
			require.Len(t, before, 1)
			require.Len(t, before[0].Endpoints, 2)
			for _, e := range before[0].Endpoints {
				assert.Zero(t, e.Requests)
				assert.Zero(t, e.Errors)
				assert.Empty(t, e.LastError)
				assert.False(t, e.Started.IsZero())
			}
			ctx := ctxTimeout(t, 10*time.Second)
			for range 3 {
				got, err := mqttrpc.Call[temperature](ctx, f.cli, f.readTopic, reading{Sensor: "s1"})
				require.NoError(t, err)
				assert.Equal(t, 21.5, got.Celsius)
			}
			_, err := f.cli.Request(ctx, f.failTopic, nil)
			var re *mqttrpc.RemoteError
			require.ErrorAs(t, err, &re)
			_, err = f.cli.Request(ctx, f.readTopic, "not json")
			require.ErrorAs(t, err, &re)
			require.Equal(t, mqttrpc.StatusBadRequest, re.Code)

			_, after := ids[mqttrpc.ServiceStats](t, f.cli, "thermo", f.thermoA.ID())
			require.Len(t, after, 1)
			st := after[0]
			assert.Equal(t, "io.mqttrpc.srv.v1.stats_response", st.Type)
			assert.False(t, st.Started.IsZero())
			read, fail := st.Endpoints[0], st.Endpoints[1]
			assert.Equal(t, "read", read.Name)
			assert.Equal(t, uint64(4), read.Requests)
			assert.Equal(t, uint64(1), read.Errors, "the undecodable payload")
			assert.Equal(t, "400 payload does not decode", read.LastError)
			assert.Positive(t, read.ProcessingTime)
			assert.Equal(t, read.ProcessingTime/4, read.AverageProcessingTime)
			assert.Equal(t, uint64(1), fail.Requests)
			assert.Equal(t, uint64(1), fail.Errors)
			assert.Equal(t, "409 sensor busy", fail.LastError)
			assert.Equal(t, st.Endpoints, f.thermoA.Stats().Endpoints, "the same as the local view")

			_, other := ids[mqttrpc.ServiceStats](t, f.cli, "thermo", f.thermoB.ID())
			assert.Zero(t, other[0].Endpoints[0].Requests, "the other instance served nothing")
		})
		t.Run("unknown verb", func(t *testing.T) {
			var codes []int
			for _, err := range f.cli.Gather(ctxTimeout(t, 10*time.Second), f.prefix+"/HELLO", nil, mqttrpc.MaxReplies(2)) {
				var re *mqttrpc.RemoteError
				require.ErrorAs(t, err, &re)
				codes = append(codes, re.Code)
			}
			assert.Equal(t, []int{404, 404}, codes, "one per Broker with services")
		})
	})
}

// TestServiceStop: a stopped instance leaves discovery, and the filters it
// shared stay while another service needs them.
func TestServiceStop(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		t.Parallel()
		f := newFleet(t, tg)
		ctx := ctxTimeout(t, 10*time.Second)
		discovery := func(b *mqttrpc.Broker) (n int) {
			for _, filter := range mqttrpc.Filters(b) {
				if strings.HasPrefix(filter, f.prefix+"/") {
					n++
				}
			}
			return n
		}
		assert.Equal(t, 5, discovery(f.a), "<prefix>/+, two names, two ids")
		require.NoError(t, f.thermoA.Stop(ctx))
		require.NoError(t, f.thermoA.Stop(ctx), "twice is fine")
		assert.Equal(t, 3, discovery(f.a))
		_, err := f.thermoA.Endpoint(ctx, "late", uniqueTopic(t, "late"), mqttrpc.Typed(echo))
		assert.ErrorIs(t, err, mqttrpc.ErrServiceStopped)
		_, err = f.cli.Request(ctx, f.readTopic, reading{}, mqttrpc.QoS(1), mqttrpc.Timeout(300*time.Millisecond))
		assert.True(t, errors.Is(err, mqttrpc.ErrNoResponders) || errors.Is(err, mqttrpc.ErrTimeout),
			"its endpoints are gone: %v", err) // mochi never says no responders

		got, _ := ids[mqttrpc.ServicePing](t, f.cli, "thermo", "", mqttrpc.Timeout(time.Second))
		assert.Equal(t, []string{"thermo/" + f.thermoB.ID()}, got)

		require.NoError(t, f.lights.Stop(ctx))
		assert.Zero(t, discovery(f.a))
	})
}

func TestServiceErrors(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		t.Parallel()
		b := connect(t, tg, mqttrpc.WithDiscoveryPrefix(uniqueTopic(t, "srv")))
		ctx := ctxTimeout(t, 10*time.Second)
		for _, cfg := range []mqttrpc.ServiceConfig{
			{Version: "1.0.0"},
			{Name: "a/b", Version: "1.0.0"},
			{Name: "a+", Version: "1.0.0"},
			{Name: "ok"},
			{Name: "ok", Version: "1.0"},
			{Name: "ok", Version: "v1.0.0"},
		} {
			_, err := b.Service(ctx, cfg)
			assert.ErrorIs(t, err, mqttrpc.ErrInvalidService, "%+v", cfg)
		}
		svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "ok", Version: "1.0.0"})
		require.NoError(t, err)
		_, err = svc.Endpoint(ctx, "bad/name", uniqueTopic(t, "x"), mqttrpc.Typed(echo))
		assert.ErrorIs(t, err, mqttrpc.ErrInvalidService)
		r := newRoute(t, tg, "e")
		sub, err := svc.Endpoint(ctx, "e", r.topic, mqttrpc.Typed(echo), r.serve()...)
		require.NoError(t, err)
		_, err = svc.Endpoint(ctx, "e", uniqueTopic(t, "y"), mqttrpc.Typed(echo))
		assert.ErrorIs(t, err, mqttrpc.ErrInvalidService, "the name is taken")
		_, err = svc.Endpoint(ctx, "f", r.topic, mqttrpc.Typed(echo))
		assert.ErrorIs(t, err, mqttrpc.ErrHandlerExists)
		assert.Len(t, svc.Info().Endpoints, 1, "a failed endpoint leaves nothing behind")
		require.NoError(t, sub.Unsubscribe(ctx))
		assert.Empty(t, svc.Info().Endpoints)
		_, err = svc.Endpoint(ctx, "e", r.topic, mqttrpc.Typed(echo), r.serve()...)
		require.NoError(t, err, "unsubscribing frees the name")

		_, err = b.Subscriber(ctx, uniqueTopic(t, "z"), mqttrpc.Typed(echo), mqttrpc.EndpointMetadata(map[string]string{"a": "b"}))
		assert.ErrorIs(t, err, mqttrpc.ErrInvalidService)

		for _, err := range mqttrpc.Discover[mqttrpc.ServicePing](ctx, b, "", "some-id") {
			assert.ErrorIs(t, err, mqttrpc.ErrInvalidService)
		}
		_, err = mqttrpc.Connect(ctx, tg.broker.URL, mqttrpc.WithDiscoveryPrefix("$SRV"))
		assert.ErrorIs(t, err, mqttrpc.ErrInvalidTopic, "'$' is the broker's")
		_, err = mqttrpc.Connect(ctx, tg.broker.URL, mqttrpc.WithDiscoveryPrefix("a/+"))
		assert.ErrorIs(t, err, mqttrpc.ErrInvalidTopic)
	})
}

// TestServiceWithoutDiscovery: with WithoutDiscovery a service subscribes
// to no discovery topic and still counts its requests.
func TestServiceWithoutDiscovery(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		t.Parallel()
		b := connect(t, tg, mqttrpc.WithoutDiscovery())
		ctx := ctxTimeout(t, 10*time.Second)
		svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "quiet", Version: "1.0.0"})
		require.NoError(t, err)
		r := newRoute(t, tg, "quiet")
		_, err = svc.Endpoint(ctx, "echo", r.topic, mqttrpc.Typed(echo), r.serve()...)
		require.NoError(t, err)
		assert.Equal(t, []string{r.topic}, mqttrpc.Filters(b), "no discovery filter")
		_, err = b.Request(ctx, r.topic, "hi", r.call()...)
		require.NoError(t, err)
		st := svc.Stats()
		require.Len(t, st.Endpoints, 1)
		assert.Equal(t, uint64(1), st.Endpoints[0].Requests)
	})
}

// TestDiscoveryV311: on MQTT 3.1.1, where a discovery request names its
// reply topic in its body, Discover finds the fleet as on MQTT 5, and so
// does a plain MQTT 3.1.1 client.
func TestDiscoveryV311(t *testing.T) {
	forEachV311(t, func(t *testing.T, tg target) {
		t.Parallel()
		f := newFleet(t, tg)
		id := func(s *mqttrpc.Service) string { return s.Name() + "/" + s.ID() }

		got, _ := ids[mqttrpc.ServicePing](t, f.cli, "", "", mqttrpc.MaxReplies(3))
		assert.Equal(t, sorted(id(f.thermoA), id(f.thermoB), id(f.lights)), got)
		got, _ = ids[mqttrpc.ServicePing](t, f.cli, "thermo", "", mqttrpc.MaxReplies(2))
		assert.Equal(t, sorted(id(f.thermoA), id(f.thermoB)), got)
		_, infos := ids[mqttrpc.ServiceInfo](t, f.cli, "thermo", f.thermoB.ID())
		require.Len(t, infos, 1)
		assert.Len(t, infos[0].Endpoints, 2)

		// A request with no reply topic still runs, and counts.
		ctx := ctxTimeout(t, 10*time.Second)
		require.NoError(t, f.cli.Publish(ctx, f.readTopic, reading{Sensor: "s1"}, mqttrpc.QoS(1)))
		require.Eventually(t, func() bool {
			_, stats := ids[mqttrpc.ServiceStats](t, f.cli, "thermo", f.thermoA.ID())
			return len(stats) == 1 && stats[0].Endpoints[0].Requests == 1
		}, 10*time.Second, 10*time.Millisecond, "STATS shows the request")

		// Any MQTT 3.1.1 client: a body that names the reply topic.
		raw := connect(t, tg)
		replies := make(chan *mqttrpc.Message, 3)
		replyTopic := uniqueTopic(t, "raw-replies")
		subscribe(t, raw, replyTopic, mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
			replies <- m
			return nil, nil
		}), mqttrpc.NoReply())
		require.NoError(t, raw.Publish(ctx, f.prefix+"/PING/lights", `{"reply_to": "`+replyTopic+`"}`, mqttrpc.QoS(1)))
		var ping mqttrpc.ServicePing
		require.NoError(t, receive(t, replies).Decode(&ping))
		assert.Equal(t, id(f.lights), ping.Name+"/"+ping.ID)
	})
}

// TestServedHook: the hook sees every request a subscriber serves, with the
// status its caller gets, and the service and endpoint names.
func TestServedHook(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		t.Parallel()
		served := make(chan mqttrpc.Served, 10)
		b := connect(t, tg, mqttrpc.WithServedHook(func(_ context.Context, s mqttrpc.Served) { served <- s }))
		ctx := ctxTimeout(t, 10*time.Second)
		base := uniqueTopic(t, "hook")
		subscribe(t, b, base+"/{id}/ok", mqttrpc.Typed(echo), mqttrpc.MaxPayload(4))
		subscribe(t, b, base+"/panic", mqttrpc.HandlerFunc(func(context.Context, *mqttrpc.Message) (*mqttrpc.Response, error) {
			panic("boom")
		}))
		svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "hooked", Version: "1.0.0"})
		require.NoError(t, err)
		_, err = svc.Endpoint(ctx, "ep", base+"/ep", mqttrpc.Typed(echo))
		require.NoError(t, err)

		_, err = b.Request(ctx, base+"/1/ok", "hi")
		require.NoError(t, err)
		s := receive(t, served)
		assert.Equal(t, base+"/{id}/ok", s.Pattern)
		assert.Equal(t, base+"/1/ok", s.Topic)
		assert.Equal(t, 200, s.Status)
		assert.NoError(t, s.Err)
		assert.Positive(t, s.Duration)

		_, err = b.Request(ctx, base+"/2/ok", "too long")
		require.Error(t, err)
		assert.Equal(t, mqttrpc.StatusPayloadTooLarge, receive(t, served).Status)

		_, err = b.Request(ctx, base+"/panic", nil)
		require.Error(t, err)
		s = receive(t, served)
		assert.Equal(t, 500, s.Status, "a panic, as its caller sees it")

		_, err = b.Request(ctx, base+"/ep", "hi")
		require.NoError(t, err)
		s = receive(t, served)
		assert.Equal(t, "hooked", s.Service)
		assert.Equal(t, "ep", s.Endpoint)

		got, _ := ids[mqttrpc.ServicePing](t, b, "hooked", svc.ID())
		assert.Len(t, got, 1)
		assert.Empty(t, served, "discovery is not counted")
	})
}

func TestStatusCode(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, 200},
		{mqttrpc.Errorf(409, "x"), 409},
		{context.DeadlineExceeded, 408},
		{context.Canceled, 503},
		{errors.New("x"), 500},
	} {
		assert.Equal(t, c.want, mqttrpc.StatusCode(c.err), "%v", c.err)
	}
}

func TestDiscoveryTopic(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ verb, name, id, want string }{
		{"PING", "", "", "mqttrpc/srv/PING"},
		{"INFO", "thermo", "", "mqttrpc/srv/INFO/thermo"},
		{"STATS", "thermo", "abc", "mqttrpc/srv/STATS/thermo/abc"},
	} {
		got, err := mqttrpc.DiscoveryTopic(mqttrpc.DefaultDiscoveryPrefix, c.verb, c.name, c.id)
		require.NoError(t, err)
		assert.Equal(t, c.want, got)
	}
	for _, bad := range [][2]string{{"", "id"}, {"a/b", ""}, {"a", "+"}} {
		_, err := mqttrpc.DiscoveryTopic("p", "PING", bad[0], bad[1])
		assert.ErrorIs(t, err, mqttrpc.ErrInvalidService, "%q", bad)
	}
	assert.True(t, slices.IsSorted([]string{mqttrpc.VerbInfo, mqttrpc.VerbPing, mqttrpc.VerbStats}))
}

// TestEndpointRefusedAndReset: a request the endpoint refuses before its
// handler runs is counted as refused, not as served; Reset starts every count
// afresh.
func TestEndpointRefusedAndReset(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		t.Parallel()
		b := connect(t, tg)
		ctx := ctxTimeout(t, 10*time.Second)
		svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "busy", Version: "1.0.0"})
		require.NoError(t, err)
		started, release := make(chan struct{}, 3), make(chan struct{})
		slow := mqttrpc.Typed(func(ctx context.Context, in string) (string, error) {
			started <- struct{}{}
			<-release
			return in, nil
		})
		topicName := uniqueTopic(t, "busy")
		_, err = svc.Endpoint(ctx, "slow", topicName, slow, mqttrpc.Concurrency(1), mqttrpc.QueueLimit(1))
		require.NoError(t, err)

		errs := make(chan error, 3)
		for range 3 {
			go func() {
				_, err := b.Request(ctx, topicName, "hi")
				errs <- err
			}()
		}
		// One runs, one queues, the third is refused at once.
		var re *mqttrpc.RemoteError
		require.ErrorAs(t, receive(t, errs), &re)
		assert.Equal(t, mqttrpc.StatusServiceUnavailable, re.Code)
		receive(t, started)
		close(release)
		require.NoError(t, receive(t, errs))
		require.NoError(t, receive(t, errs))

		st := svc.Stats().Endpoints[0]
		assert.Equal(t, uint64(2), st.Requests)
		assert.Equal(t, uint64(1), st.Refused)
		assert.Equal(t, uint64(0), st.Errors)

		svc.Reset()
		reset := svc.Stats().Endpoints[0]
		assert.Zero(t, reset.Requests)
		assert.Zero(t, reset.Refused)
		assert.Zero(t, reset.ProcessingTime)
		assert.True(t, reset.Started.After(st.Started), "started anew")
		_, err = b.Request(ctx, topicName, "again")
		require.NoError(t, err)
		assert.Equal(t, uint64(1), svc.Stats().Endpoints[0].Requests)
	})
}

// TestDiscoveryAcrossVersions: a caller on either version finds services on
// both, each instance once. An MQTT 5 request carries a Response Topic and
// the body that names it, so a 3.1.1 service, which sees no properties,
// answers too; an MQTT 5 service answers the Response Topic only.
func TestDiscoveryAcrossVersions(t *testing.T) {
	for _, b := range brokertest.All(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			prefix := mqttrpc.WithDiscoveryPrefix(uniqueTopic(t, "srv"))
			ctx := ctxTimeout(t, 10*time.Second)
			want := map[string]mqttrpc.Version{}
			for _, v := range []mqttrpc.Version{mqttrpc.V5, mqttrpc.V311, mqttrpc.V5, mqttrpc.V311} {
				svc, err := connect(t, target{broker: b, version: v}, prefix).Service(ctx, mqttrpc.ServiceConfig{Name: "mixed", Version: "1.0.0"})
				require.NoError(t, err)
				want[svc.ID()] = v
			}
			for _, v := range []mqttrpc.Version{mqttrpc.V5, mqttrpc.V311} {
				t.Run("caller v"+v.String(), func(t *testing.T) {
					cli := connect(t, target{broker: b, version: v}, prefix)
					seen := map[string]int{}
					// No MaxReplies: the gather runs to its deadline, so a
					// second answer from one instance would be counted.
					for r, err := range mqttrpc.Discover[mqttrpc.ServicePing](ctxTimeout(t, 2*time.Second), cli, "mixed", "") {
						if errors.Is(err, mqttrpc.ErrTimeout) {
							break
						}
						require.NoError(t, err)
						seen[r.ID]++
					}
					for id, sv := range want {
						assert.Equal(t, 1, seen[id], "the v%s instance %s answers once", sv, id)
					}
					assert.Len(t, seen, len(want))
				})
			}
		})
	}
}

// TestSchemaGeneratorFails refuses an endpoint whose schema cannot be made,
// as it could not tell discovery what it takes.
func TestSchemaGeneratorFails(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		t.Parallel()
		b := connect(t, tg, mqttrpc.WithSchemaGenerator(func(t reflect.Type) (json.RawMessage, error) {
			if t.Kind() == reflect.Chan {
				return nil, errNoChannelSchema
			}
			return json.RawMessage(`{}`), nil
		}))
		ctx := ctxTimeout(t, 10*time.Second)
		svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "bad", Version: "1.0.0"})
		require.NoError(t, err)
		_, err = svc.Endpoint(ctx, "chan", uniqueTopic(t, "bad"), mqttrpc.Typed(func(context.Context, chan int) (string, error) { return "", nil }))
		require.ErrorIs(t, err, mqttrpc.ErrInvalidService)
		assert.ErrorIs(t, err, errNoChannelSchema, "the generator's error is kept")
		assert.Empty(t, svc.Info().Endpoints)
		_, err = svc.Endpoint(ctx, "ok", uniqueTopic(t, "ok"), mqttrpc.Typed(echo))
		require.NoError(t, err)
		assert.JSONEq(t, `{}`, string(svc.Schemas().Endpoints[0].RequestSchemaJSON))
	})
}

var errNoChannelSchema = errors.New("a channel is no JSON")
