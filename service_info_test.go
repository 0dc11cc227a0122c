package mqttrpc_test

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
)

// TestEndpointInfoOptions checks that INFO says how each endpoint serves:
// its content types, QoS, reply and shared group, on the wire and in the
// Service itself, where the Go types of typed handlers are known too.
func TestEndpointInfoOptions(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		t.Parallel()
		ctx := ctxTimeout(t, 10*time.Second)
		prefix := uniqueTopic(t, "srv")
		b := connect(t, tg, mqttrpc.WithDiscoveryPrefix(prefix))
		cli := connect(t, tg, mqttrpc.WithDiscoveryPrefix(prefix))
		base := uniqueTopic(t, "info")
		svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "opts", Version: "1.0.0"})
		require.NoError(t, err)
		endpoints := []struct {
			name, pattern string
			h             mqttrpc.Handler
			opts          []mqttrpc.SubscribeOption
		}{
			{"read", "{sensor}/read", mqttrpc.Typed(func(context.Context, reading) (temperature, error) { return temperature{}, nil }),
				[]mqttrpc.SubscribeOption{mqttrpc.QoS(1)}},
			{"echo", "echo/request/{token}", mqttrpc.Typed(echo),
				[]mqttrpc.SubscribeOption{mqttrpc.ReplyTopic(base + "/echo/response/{token}"), mqttrpc.Shared("g")}},
			{"log", "log/{rest...}", mqttrpc.Typed(func(context.Context, []byte) (*mqttrpc.Response, error) { return nil, nil }),
				[]mqttrpc.SubscribeOption{mqttrpc.NoReply(), mqttrpc.ReplyTopic(base + "/never")}},
			{"raw", "$share/h/" + base + "/raw", mqttrpc.HandlerFunc(func(context.Context, *mqttrpc.Message) (*mqttrpc.Response, error) { return nil, nil }), nil},
		}
		for _, e := range endpoints {
			pattern := e.pattern
			if e.name != "raw" {
				pattern = base + "/" + pattern
			}
			_, err := svc.Endpoint(ctx, e.name, pattern, e.h, e.opts...)
			require.NoError(t, err)
		}
		want := []mqttrpc.EndpointInfo{
			{Name: "read", Pattern: base + "/{sensor}/read", Filter: base + "/+/read", Metadata: map[string]string{},
				RequestSchema: "mqttrpc_test.reading", ResponseSchema: "mqttrpc_test.temperature",
				RequestContentType: "application/json", ResponseContentType: "application/json", QoS: 1},
			{Name: "echo", Pattern: base + "/echo/request/{token}", Filter: "$share/g/" + base + "/echo/request/+", Metadata: map[string]string{},
				RequestSchema: "string", ResponseSchema: "string", RequestContentType: "text/plain", ResponseContentType: "text/plain",
				Shared: "g", ReplyTopic: base + "/echo/response/{token}"},
			{Name: "log", Pattern: base + "/log/{rest...}", Filter: base + "/log/#", Metadata: map[string]string{},
				RequestSchema: "[]byte", NoReply: true},
			{Name: "raw", Pattern: "$share/h/" + base + "/raw", Filter: "$share/h/" + base + "/raw", Metadata: map[string]string{}, Shared: "h"},
		}

		var remote *mqttrpc.ServiceInfo
		for info, err := range mqttrpc.Discover[mqttrpc.ServiceInfo](ctx, cli, "opts", svc.ID()) {
			require.NoError(t, err)
			remote = info
		}
		require.NotNil(t, remote)
		assert.Equal(t, want, remote.Endpoints, "discovery carries no Go types")

		local := svc.Info().Endpoints
		require.Len(t, local, len(want))
		types := [][2]reflect.Type{
			{reflect.TypeFor[reading](), reflect.TypeFor[temperature]()},
			{reflect.TypeFor[string](), reflect.TypeFor[string]()},
			{reflect.TypeFor[[]byte](), nil},
			{nil, nil},
		}
		for i, e := range local {
			req, resp := e.Types()
			assert.Equal(t, types[i], [2]reflect.Type{req, resp}, e.Name)
			// Only the unexported types differ: JSON shows the rest.
			got, err := json.Marshal(e)
			require.NoError(t, err)
			exp, err := json.Marshal(want[i])
			require.NoError(t, err)
			assert.JSONEq(t, string(exp), string(got))
		}

		raw, err := os.ReadFile("schemas/info_response.json")
		require.NoError(t, err)
		var schema map[string]any
		require.NoError(t, json.Unmarshal(raw, &schema))
		body, err := json.Marshal(svc.Info())
		require.NoError(t, err)
		var v any
		require.NoError(t, json.Unmarshal(body, &v))
		require.NoError(t, validate(schema, v, "$"))
	})
}

// TestBrokerServices checks what a Broker tells about itself: its services
// in the order they started, less the stopped ones, its servers with the
// password masked, and its version.
func TestBrokerServices(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		t.Parallel()
		ctx := ctxTimeout(t, 10*time.Second)
		b, err := mqttrpc.Connect(ctx, strings.Replace(tg.broker.URL, "://", "://u:secret@", 1), mqttrpc.WithVersion(tg.version))
		require.NoError(t, err)
		defer b.Close(ctx)
		assert.Equal(t, tg.version, b.Version())
		require.Len(t, b.Servers(), 1)
		assert.Equal(t, b.Server(), b.Servers()[0])
		assert.Contains(t, b.Servers()[0], "u:xxxxx@")
		assert.NotContains(t, b.Servers()[0], "secret")

		assert.Empty(t, b.Services())
		var started []*mqttrpc.Service
		for _, name := range []string{"one", "two", "three"} {
			svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: name, Version: "1.0.0"})
			require.NoError(t, err)
			started = append(started, svc)
		}
		assert.Equal(t, started, b.Services())
		require.NoError(t, started[1].Stop(ctx))
		assert.Equal(t, []*mqttrpc.Service{started[0], started[2]}, b.Services())
		require.NoError(t, b.Close(ctx))
		assert.Empty(t, b.Services(), "none once closed")
	})
}
