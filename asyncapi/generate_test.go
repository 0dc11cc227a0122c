package asyncapi_test

import (
	"context"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/asyncapi"
	"github.com/mqttrpc/mqttrpc/embedded"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The bodies of examples/v311.
type StatusRequest struct {
	Verbose bool `json:"verbose"`
}

type Status struct {
	Device string `json:"device"`
	Uptime string `json:"uptime"`
}

// The bodies of examples/firmware.
type Update struct {
	Version string `json:"version"`
}

type Progress struct {
	Percent int    `json:"percent"`
	Version string `json:"version,omitempty"`
}

// Types that stretch the schema generator: a generic, a recursive and a
// nested type, times and bytes.
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

type Job struct {
	ID      string            `json:"id"`
	Created time.Time         `json:"created"`
	Blob    []byte            `json:"blob,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	Parent  *Job              `json:"parent,omitempty"`
	Extra   any               `json:"extra,omitempty"`
}

// fixture is services as one of the repository's examples, or a case of
// its own, serves them, and what their document must say.
type fixture struct {
	name    string
	version mqttrpc.Version
	serve   func(ctx context.Context, b *mqttrpc.Broker) error
	check   func(t *testing.T, d *asyncapi.Document)
}

// endpoint is an endpoint to add to a service.
type endpoint struct {
	name, pattern string
	h             mqttrpc.Handler
	opts          []mqttrpc.SubscribeOption
}

// service returns a fixture's serve function: a service cfg with endpoints.
func service(cfg mqttrpc.ServiceConfig, endpoints ...endpoint) func(context.Context, *mqttrpc.Broker) error {
	return func(ctx context.Context, b *mqttrpc.Broker) error {
		svc, err := b.Service(ctx, cfg)
		if err != nil {
			return err
		}
		for _, e := range endpoints {
			if _, err := svc.Endpoint(ctx, e.name, e.pattern, e.h, e.opts...); err != nil {
				return err
			}
		}
		return nil
	}
}

func echo(_ context.Context, in string) (string, error) { return in, nil }

func raw(context.Context, *mqttrpc.Message) (*mqttrpc.Response, error) { return nil, nil }

var fixtures = []fixture{
	{
		// example_service_test.go: ExampleBroker_Service.
		name: "thermo", version: mqttrpc.V5,
		serve: service(mqttrpc.ServiceConfig{Name: "thermo", Version: "1.2.0", Description: "reads thermometers", Metadata: map[string]string{"site": "7"}},
			endpoint{"read", "site/7/thermo/{sensor}", mqttrpc.Typed(func(context.Context, []byte) (float64, error) { return 21.5, nil }),
				[]mqttrpc.SubscribeOption{mqttrpc.EndpointMetadata(map[string]string{"unit": "celsius"})}}),
		check: func(t *testing.T, d *asyncapi.Document) {
			assert.Equal(t, asyncapi.DocumentInfo{Title: "thermo", Version: "1.2.0", Description: "reads thermometers",
				Metadata: map[string]string{"site": "7"}}, d.Info, "service metadata as x-mqttrpc-metadata")
			ch := d.Channels["thermo.read"]
			assert.Equal(t, "site/7/thermo/{sensor}", *ch.Address)
			assert.Equal(t, []string{"sensor"}, keys(ch.Parameters))
			req := ch.Messages["request"]
			assert.Empty(t, req.ContentType, "bytes go without a content type")
			assert.JSONEq(t, `{"type":"string","format":"binary"}`, string(req.Payload))
			require.NotNil(t, req.Bindings, "MQTT 5: the request names its Response Topic")
			reply := d.Channels["thermo.read.reply"]
			assert.Nil(t, reply.Address, "the Response Topic is only known at run time")
			assert.Equal(t, "application/json", reply.Messages["reply"].ContentType)
			assert.JSONEq(t, `{"type":"number"}`, string(reply.Messages["reply"].Payload))
			op := d.Operations["thermo.read"]
			assert.Equal(t, "receive", op.Action)
			assert.Equal(t, "#/channels/thermo.read", op.Channel.Ref)
			require.NotNil(t, op.Reply)
			assert.Equal(t, "#/channels/thermo.read.reply", op.Reply.Channel.Ref)
			assert.Equal(t, map[string]string{"unit": "celsius"}, op.Metadata, "endpoint metadata as x-mqttrpc-metadata")
			assert.False(t, op.Streaming)
			assert.Equal(t, asyncapi.Server{Host: "", Protocol: "mqtt", ProtocolVersion: "5"}, withoutHost(d.Servers["broker"]))
		},
	},
	{
		// example_service_test.go: ExampleService_Group.
		name: "devices", version: mqttrpc.V5,
		serve: func(ctx context.Context, b *mqttrpc.Broker) error {
			svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "devices", Version: "2.0.0"})
			if err != nil {
				return err
			}
			dev := svc.Group("site/{site}/devices/{id}", mqttrpc.EndpointMetadata(map[string]string{"auth": "operator"}))
			_, err = dev.Endpoint(ctx, "reboot", "reboot", mqttrpc.Typed(func(context.Context, []byte) (string, error) { return "", nil }))
			return err
		},
		check: func(t *testing.T, d *asyncapi.Document) {
			ch := d.Channels["devices.reboot"]
			assert.Equal(t, "site/{site}/devices/{id}/reboot", *ch.Address)
			assert.Equal(t, []string{"id", "site"}, keys(ch.Parameters))
			reply := d.Channels["devices.reboot.reply"].Messages["reply"]
			assert.Equal(t, "text/plain", reply.ContentType)
			assert.JSONEq(t, `{"type":"string"}`, string(reply.Payload))
		},
	},
	{
		// examples/firmware: a streaming endpoint.
		name: "firmware", version: mqttrpc.V5,
		serve: service(mqttrpc.ServiceConfig{Name: "firmware", Version: "1.0.0"},
			endpoint{"update", "devices/{id}/firmware/update", mqttrpc.TypedStream(
				func(ctx context.Context, u Update, send func(Progress) error) error {
					return send(Progress{Percent: 100})
				}), nil}),
		check: func(t *testing.T, d *asyncapi.Document) {
			op := d.Operations["firmware.update"]
			assert.True(t, op.Streaming, "x-mqttrpc-streaming")
			assert.Contains(t, op.Description, "__stream d:<i>")
			req := d.Channels["firmware.update"].Messages["request"]
			assert.JSONEq(t, `{"$ref":"#/components/schemas/mqttrpc.StreamRequestHeaders"}`, string(req.Headers))
			reply := d.Channels["firmware.update.reply"].Messages["reply"]
			assert.JSONEq(t, `{"$ref":"#/components/schemas/mqttrpc.StreamReplyHeaders"}`, string(reply.Headers))
			assert.Contains(t, string(d.Components.Schemas["mqttrpc.StreamReplyHeaders"]), "c:<n>:last")
			assert.JSONEq(t, `{"$ref":"#/components/schemas/asyncapi_test.Progress"}`, string(reply.Payload))
			j, err := d.JSON()
			require.NoError(t, err)
			assert.Contains(t, string(j), `"x-mqttrpc-streaming": true`)
		},
	},
	{
		// examples/echo.
		name: "echo", version: mqttrpc.V5,
		serve: service(mqttrpc.ServiceConfig{Name: "echo", Version: "1.0.0"},
			endpoint{"echo", "rpc/echo", mqttrpc.Typed(echo), nil}),
		check: func(t *testing.T, d *asyncapi.Document) {
			assert.Equal(t, "rpc/echo", *d.Channels["echo.echo"].Address)
			assert.Nil(t, d.Channels["echo.echo"].Parameters)
			assert.Equal(t, "text/plain", d.Channels["echo.echo"].Messages["request"].ContentType)
		},
	},
	{
		// examples/echo -v 3.1.1: replies go to a fixed topic.
		name: "echo-3.1.1", version: mqttrpc.V311,
		serve: service(mqttrpc.ServiceConfig{Name: "echo", Version: "1.0.0"},
			endpoint{"echo", "rpc/echo", mqttrpc.Typed(echo), []mqttrpc.SubscribeOption{mqttrpc.ReplyTopic("rpc/echo/reply")}}),
		check: func(t *testing.T, d *asyncapi.Document) {
			assert.Equal(t, "3.1.1", d.Servers["broker"].ProtocolVersion)
			assert.Nil(t, d.Channels["echo.echo"].Messages["request"].Bindings, "MQTT 3.1.1 has no Response Topic")
			reply := d.Channels["echo.echo.reply"]
			assert.Equal(t, "rpc/echo/reply", *reply.Address)
			assert.Nil(t, reply.Messages["reply"].Headers, "MQTT 3.1.1 has no error replies")
		},
	},
	{
		// examples/v311: JSON bodies, QoS 1, a reply topic.
		name: "status-3.1.1", version: mqttrpc.V311,
		serve: service(mqttrpc.ServiceConfig{Name: "device", Version: "0.3.0"},
			endpoint{"status", "devices/42/status", mqttrpc.Typed(func(context.Context, StatusRequest) (Status, error) { return Status{}, nil }),
				[]mqttrpc.SubscribeOption{mqttrpc.QoS(1), mqttrpc.ReplyTopic("devices/42/status/reply")}}),
		check: func(t *testing.T, d *asyncapi.Document) {
			assert.Equal(t, byte(1), d.Operations["device.status"].Bindings.MQTT.QoS)
			req := d.Channels["device.status"].Messages["request"]
			assert.Equal(t, "asyncapi_test.StatusRequest", req.Name)
			assert.JSONEq(t, `{"$ref":"#/components/schemas/asyncapi_test.StatusRequest"}`, string(req.Payload))
			require.NotNil(t, d.Components)
			assert.JSONEq(t, `{"type":"object","properties":{"device":{"type":"string"},"uptime":{"type":"string"}},"required":["device","uptime"]}`,
				string(d.Components.Schemas["asyncapi_test.Status"]))
			assert.Equal(t, "devices/42/status/reply", *d.Channels["device.status.reply"].Address)
		},
	},
	{
		// TokenReply's responder (call_tokens.go), on MQTT 3.1.1 where it is the way.
		name: "token-reply-3.1.1", version: mqttrpc.V311,
		serve: service(mqttrpc.ServiceConfig{Name: "svc", Version: "1.0.0"},
			endpoint{"echo", "svc/echo/request/{caller}/{token}", mqttrpc.Typed(echo),
				[]mqttrpc.SubscribeOption{mqttrpc.ReplyTopic("svc/echo/response/{caller}/{token}")}},
			endpoint{"fire", "svc/fire", mqttrpc.Typed(echo), nil}),
		check: func(t *testing.T, d *asyncapi.Document) {
			reply := d.Channels["svc.echo.reply"]
			assert.Equal(t, "svc/echo/response/{caller}/{token}", *reply.Address)
			assert.Equal(t, []string{"caller", "token"}, keys(reply.Parameters))
			assert.Nil(t, d.Operations["svc.fire"].Reply, "MQTT 3.1.1 without a reply topic: nowhere to reply")
			assert.NotContains(t, d.Channels, "svc.fire.reply")
		},
	},
	{
		// Every other option that shows in the document.
		name: "options", version: mqttrpc.V5,
		serve: service(mqttrpc.ServiceConfig{Name: "jobs", Version: "3.0.0-rc.1", Description: "runs jobs"},
			endpoint{"log", "jobs/log/{rest...}", mqttrpc.Typed(func(context.Context, string) (string, error) { return "", nil }),
				[]mqttrpc.SubscribeOption{mqttrpc.NoReply()}},
			endpoint{"run", "jobs/{id}/run", mqttrpc.Typed(func(context.Context, Job) (Page[Job], error) { return Page[Job]{}, nil }),
				[]mqttrpc.SubscribeOption{mqttrpc.Shared("workers"), mqttrpc.QoS(2)}},
			endpoint{"cancel", "$share/cancellers/jobs/{id}/cancel", mqttrpc.Typed(func(context.Context, []byte) (any, error) { return nil, nil }), nil},
			endpoint{"raw", "jobs/raw/+/#", mqttrpc.HandlerFunc(raw), []mqttrpc.SubscribeOption{mqttrpc.EndpointSchema("Raw", "")}},
			endpoint{"token", "tokens/request/{token}", mqttrpc.Typed(func(context.Context, map[string]int) (*mqttrpc.Response, error) { return nil, nil }),
				[]mqttrpc.SubscribeOption{mqttrpc.ReplyTopic("tokens/response/{token}")}}),
		check: func(t *testing.T, d *asyncapi.Document) {
			log := d.Channels["jobs.log"]
			assert.Equal(t, "jobs/log/{rest}", *log.Address)
			assert.Contains(t, log.Parameters["rest"].Description, "any number of levels")
			assert.Nil(t, d.Operations["jobs.log"].Reply)
			assert.NotContains(t, d.Channels, "jobs.log.reply")
			assert.Nil(t, log.Messages["request"].Bindings, "no reply, so no Response Topic")

			run := d.Channels["jobs.run"]
			assert.Equal(t, "jobs/{id}/run", *run.Address, "callers publish to the topic, not $share/...")
			assert.Contains(t, run.Description, "group workers")
			assert.Equal(t, byte(2), d.Operations["jobs.run"].Bindings.MQTT.QoS)
			assert.JSONEq(t, `{"$ref":"#/components/schemas/asyncapi_test.Page_github.com_mqttrpc_mqttrpc_asyncapi_test.Job_"}`,
				string(d.Channels["jobs.run.reply"].Messages["reply"].Payload))
			assert.Contains(t, string(d.Components.Schemas["asyncapi_test.Job"]), `"$ref":"#/components/schemas/asyncapi_test.Job"`, "recursive")

			assert.JSONEq(t, `{}`, string(d.Channels["jobs.cancel.reply"].Messages["reply"].Payload), "any JSON value")
			cancel := d.Channels["jobs.cancel"]
			assert.Equal(t, "jobs/{id}/cancel", *cancel.Address)
			assert.Contains(t, cancel.Description, "group cancellers")

			rawCh := d.Channels["jobs.raw"]
			assert.Equal(t, "jobs/raw/{level3}/{level4}", *rawCh.Address)
			assert.Equal(t, "Raw", rawCh.Messages["request"].Name)
			assert.Nil(t, rawCh.Messages["request"].Payload, "a raw handler says nothing of its payload")
			assert.Nil(t, d.Channels["jobs.raw.reply"].Messages["reply"].Payload)

			token := d.Channels["jobs.token.reply"]
			assert.Equal(t, "tokens/response/{token}", *token.Address)
			assert.Nil(t, token.Messages["reply"].Payload, "a *Response says nothing of its payload")
		},
	},
}

// TestGenerate generates the document of each fixture's services on a real
// broker, checks what it says, and has the official AsyncAPI parser
// validate it. Its YAML is the same document, and TestREADME validates one.
func TestGenerate(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	docs := map[string][]byte{}
	t.Run("fixtures", func(t *testing.T) {
		for _, f := range fixtures {
			t.Run(f.name, func(t *testing.T) {
				t.Parallel()
				generated := generate(t, f)
				mu.Lock()
				defer mu.Unlock()
				maps.Copy(docs, generated)
			})
		}
	})
	require.Len(t, docs, len(fixtures))
	requireValid(t, docs)
}

// generate generates the document of f's services and checks it, and
// returns it as JSON, by file name.
func generate(t *testing.T, f fixture) map[string][]byte {
	b := connect(t, f.version)
	require.NoError(t, f.serve(ctxTimeout(t), b))
	d, err := asyncapi.Generate(b, asyncapi.Info{})
	require.NoError(t, err)
	assert.Equal(t, "3.0.0", d.AsyncAPI)
	require.Len(t, d.Servers, 1)
	assert.Contains(t, b.Servers()[0], d.Servers["broker"].Host)
	for key, op := range d.Operations {
		assert.Contains(t, d.Channels, key, "each operation has its channel")
		if op.Reply != nil {
			assert.Contains(t, d.Channels, key+".reply")
		}
	}
	f.check(t, d)

	j, err := d.JSON()
	require.NoError(t, err)
	again, err := asyncapi.Generate(b, asyncapi.Info{})
	require.NoError(t, err)
	j2, err := again.JSON()
	require.NoError(t, err)
	assert.Equal(t, string(j), string(j2), "the same services, the same document")
	return map[string][]byte{f.name + ".json": j}
}

// TestFromDiscovery builds the document of each service a client only
// knows from discovery: from SCHEMA replies of services whose Brokers make
// schemas with JSONSchema, the very document Generate makes in the
// services' process; from INFO replies, the same channels and operations
// with the schema names alone.
func TestFromDiscovery(t *testing.T) {
	t.Parallel()
	srv := startBroker(t)
	ctx := ctxTimeout(t)
	local := map[string]*asyncapi.Document{}
	for _, f := range fixtures {
		if f.version != mqttrpc.V5 {
			continue
		}
		b := connectTo(t, srv, f.version, mqttrpc.WithSchemaGenerator(asyncapi.JSONSchema))
		require.NoError(t, f.serve(ctx, b))
		d, err := asyncapi.Generate(b, asyncapi.Info{})
		require.NoError(t, err)
		local[d.Info.Title] = d
	}
	cli := connectTo(t, srv, mqttrpc.V5)

	schemas := map[string][]mqttrpc.ServiceInfo{}
	for s, err := range mqttrpc.Discover[mqttrpc.ServiceSchemas](ctx, cli, "", "", mqttrpc.MaxReplies(len(local))) {
		require.NoError(t, err)
		schemas[s.Name] = append(schemas[s.Name], s.ServiceInfo)
	}
	require.Len(t, schemas, len(local))
	docs := map[string][]byte{}
	for name, l := range local {
		d, err := asyncapi.FromServices(schemas[name], asyncapi.Info{Servers: cli.Servers()})
		require.NoError(t, err)
		assert.Equal(t, l, d, "%s: SCHEMA carries all Generate knows", name)
		docs[name+".json"], err = d.JSON()
		require.NoError(t, err)
	}
	requireValid(t, docs)

	var infos []mqttrpc.ServiceInfo
	for info, err := range mqttrpc.Discover[mqttrpc.ServiceInfo](ctxTimeout(t), cli, "", "", mqttrpc.MaxReplies(len(local))) {
		require.NoError(t, err)
		infos = append(infos, *info)
	}
	require.Len(t, infos, len(local))
	d, err := asyncapi.FromServices(infos, asyncapi.Info{Servers: cli.Servers()})
	require.NoError(t, err)
	var channels, operations int
	for _, l := range local {
		channels += len(l.Channels)
		operations += len(l.Operations)
		for key, ch := range l.Channels {
			require.Contains(t, d.Channels, key)
			assert.Equal(t, ch.Address, d.Channels[key].Address, key)
			assert.Equal(t, ch.Parameters, d.Channels[key].Parameters, key)
		}
		for key, op := range l.Operations {
			assert.Equal(t, op, d.Operations[key], key)
		}
	}
	assert.Len(t, d.Channels, channels)
	assert.Len(t, d.Operations, operations)
	run := d.Channels["jobs.run"].Messages["request"]
	assert.Equal(t, "asyncapi_test.Job", run.Name, "INFO names the schema")
	assert.Equal(t, "application/json", run.ContentType)
	assert.Nil(t, run.Payload, "and does not carry it")
	assert.JSONEq(t, `{"type":"string"}`, string(d.Channels["devices.reboot.reply"].Messages["reply"].Payload))
}

// TestJSONSchema checks the standalone schemas services answer to SCHEMA.
func TestJSONSchema(t *testing.T) {
	t.Parallel()
	s, err := asyncapi.JSONSchema(reflect.TypeFor[Page[Job]]())
	require.NoError(t, err)
	var v struct {
		Schema string                     `json:"$schema"`
		Ref    string                     `json:"$ref"`
		Defs   map[string]json.RawMessage `json:"$defs"`
	}
	require.NoError(t, json.Unmarshal(s, &v))
	assert.Equal(t, "https://json-schema.org/draft/2020-12/schema", v.Schema)
	assert.Equal(t, "#/$defs/asyncapi_test.Page_github.com_mqttrpc_mqttrpc_asyncapi_test.Job_", v.Ref)
	assert.Contains(t, v.Defs, "asyncapi_test.Job")
	assert.NotContains(t, string(s), "#/components/", "standalone: it refers to its own $defs")
	assert.Contains(t, string(s), `"extra":{}`, "any value as {}, not true, which Modelina cannot read")

	s, err = asyncapi.JSONSchema(reflect.TypeFor[string]())
	require.NoError(t, err)
	assert.JSONEq(t, `{"type":"string"}`, string(s))
	_, err = asyncapi.JSONSchema(reflect.TypeFor[chan int]())
	assert.ErrorContains(t, err, "JSON Schema of chan int")
}

// TestFromServicesInstances describes each endpoint once, however many
// instances list it, and numbers the endpoints of one name whose patterns
// differ between instances.
func TestFromServicesInstances(t *testing.T) {
	t.Parallel()
	instance := func(id, site string) mqttrpc.ServiceInfo {
		return mqttrpc.ServiceInfo{
			ServiceIdentity: mqttrpc.ServiceIdentity{Name: "thermo", ID: id, Version: "1.2.0"},
			Endpoints: []mqttrpc.EndpointInfo{
				{Name: "read", Pattern: "site/" + site + "/thermo/{sensor}", ResponseSchema: "float64", ResponseContentType: "application/json"},
				{Name: "ping", Pattern: "thermo/ping", RequestSchema: "string", RequestContentType: "text/plain"},
			},
		}
	}
	d, err := asyncapi.FromServices([]mqttrpc.ServiceInfo{instance("b", "8"), instance("a", "7"), instance("c", "7")}, asyncapi.Info{})
	require.NoError(t, err)
	assert.Equal(t, []string{"thermo.ping", "thermo.read", "thermo.read.2"}, keys(d.Operations))
	assert.Equal(t, "site/7/thermo/{sensor}", *d.Channels["thermo.read"].Address)
	assert.Equal(t, "site/8/thermo/{sensor}", *d.Channels["thermo.read.2"].Address)
	assert.Equal(t, asyncapi.DocumentInfo{Title: "thermo", Version: "1.2.0"}, d.Info)
	assert.Nil(t, d.Servers)

	j, err := d.JSON()
	require.NoError(t, err)
	requireValid(t, map[string][]byte{"asyncapi.json": j})
}

// TestInfo checks that Info overrides what the services say, and that
// servers keep no password.
func TestInfo(t *testing.T) {
	t.Parallel()
	d, err := asyncapi.FromServices(nil, asyncapi.Info{
		Title: "fleet", Version: "7", Description: "all of it",
		Servers:  []string{"mqtts://user:secret@broker.example.com:8883", "ws://other:80/mqtt"},
		Protocol: mqttrpc.V311,
	})
	require.NoError(t, err)
	assert.Equal(t, asyncapi.DocumentInfo{Title: "fleet", Version: "7", Description: "all of it"}, d.Info)
	assert.Equal(t, map[string]asyncapi.Server{
		"broker":   {Host: "broker.example.com:8883", Protocol: "secure-mqtt", ProtocolVersion: "3.1.1"},
		"broker-2": {Host: "other:80", Protocol: "ws", ProtocolVersion: "3.1.1"},
	}, d.Servers)
	j, err := d.JSON()
	require.NoError(t, err)
	assert.NotContains(t, string(j), "secret")

	_, err = asyncapi.FromServices(nil, asyncapi.Info{Servers: []string{"http://example.com"}})
	assert.ErrorContains(t, err, "want mqtt://")
}

// TestSchemaErrors checks the Go types that have no JSON Schema.
func TestSchemaErrors(t *testing.T) {
	t.Parallel()
	b := connect(t, mqttrpc.V5)
	ctx := ctxTimeout(t)
	svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "bad", Version: "1.0.0"})
	require.NoError(t, err)
	_, err = svc.Endpoint(ctx, "chan", "bad/chan", mqttrpc.Typed(func(context.Context, chan int) (string, error) { return "", nil }))
	require.NoError(t, err)
	_, err = asyncapi.Generate(b, asyncapi.Info{})
	assert.ErrorContains(t, err, "endpoint chan")
	assert.ErrorContains(t, err, "JSON Schema of chan int")
}

// TestParserFails checks that the validation can fail: documents the
// official parser must reject.
func TestParserFails(t *testing.T) {
	t.Parallel()
	b := connect(t, mqttrpc.V5)
	require.NoError(t, fixtures[0].serve(ctxTimeout(t), b))
	d, err := asyncapi.Generate(b, asyncapi.Info{})
	require.NoError(t, err)
	j, err := d.JSON()
	require.NoError(t, err)

	broken := map[string][]byte{}
	for name, breakIt := range map[string]func(doc map[string]any){
		"no-info": func(doc map[string]any) { delete(doc, "info") },
		"missing-channel": func(doc map[string]any) {
			doc["operations"].(map[string]any)["thermo.read"].(map[string]any)["channel"] = map[string]any{"$ref": "#/channels/nope"}
		},
		"undeclared-parameter": func(doc map[string]any) {
			doc["channels"].(map[string]any)["thermo.read"].(map[string]any)["parameters"] = map[string]any{}
		},
	} {
		var doc map[string]any
		require.NoError(t, json.Unmarshal(j, &doc))
		breakIt(doc)
		broken[name], err = json.Marshal(doc)
		require.NoError(t, err)
	}
	broken["valid"] = j
	out, err := parse(t, broken)
	assert.Error(t, err)
	for name := range broken {
		if name == "valid" {
			assert.NotContains(t, out, "/valid:", "the document as generated")
			continue
		}
		assert.Contains(t, out, "/"+name+": error: ")
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// withoutHost returns s without its host, which is the test broker's.
func withoutHost(s asyncapi.Server) asyncapi.Server {
	s.Host = ""
	return s
}

func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startBroker starts an embedded broker for the test.
func startBroker(t *testing.T) *embedded.Server {
	t.Helper()
	srv, err := embedded.Start()
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	return srv
}

// connect connects to a broker of the test's own.
func connect(t *testing.T, v mqttrpc.Version) *mqttrpc.Broker {
	return connectTo(t, startBroker(t), v)
}

func connectTo(t *testing.T, srv *embedded.Server, v mqttrpc.Version, opts ...mqttrpc.Option) *mqttrpc.Broker {
	t.Helper()
	b, err := mqttrpc.Connect(ctxTimeout(t), srv.URL(), append([]mqttrpc.Option{mqttrpc.WithVersion(v)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close(context.Background())) })
	return b
}
