// Package mqttrpc is request/response (RPC) over MQTT 5.0 and 3.1.1, on the
// Eclipse Paho clients.
//
// A [Broker] is one connection to an MQTT broker. [Broker.Subscriber]
// registers a [Handler] on a topic pattern; what the handler returns is
// published to the request's Response Topic with its Correlation Data.
// [Broker.Request] publishes a request from a private reply topic and waits
// for the matching reply, a typed error, or its deadline: never longer.
//
//	b, err := mqttrpc.Connect(ctx, "mqtt://localhost:1883")
//	if err != nil { ... }
//	defer b.Close(ctx)
//
//	b.Subscriber(ctx, "devices/{id}/echo", mqttrpc.Typed(func(ctx context.Context, in string) (string, error) {
//		return mqttrpc.MessageFromContext(ctx).Param("id") + ": " + in, nil
//	}))
//	reply, err := b.Request(ctx, "devices/42/echo", "hello", mqttrpc.Timeout(5*time.Second))
//
// # Serving
//
// A pattern names its wildcard levels: "devices/{id}/reboot" subscribes to
// devices/+/reboot, and [Message.Param] reads the id. Each request runs
// exactly one handler, once: the one with the most specific pattern. Handlers
// are wrapped in [Middleware], the Broker's ([WithMiddleware]) outside the
// subscriber's ([Use]); a [Group] shares a prefix and options. Retained
// requests are not run unless [AcceptRetained].
//
// # Services and discovery
//
// [Broker.Service] starts an instance of a named, versioned service with a
// random instance id; [Service.Endpoint] adds its handlers under names, and
// counts what each serves. Every instance answers PING, INFO, STATS and
// SCHEMA requests on mqttrpc/srv/<VERB>, mqttrpc/srv/<VERB>/<name> and
// mqttrpc/srv/<VERB>/<name>/<id> with one JSON reply each (schemas/ in the
// repository), at the Response Topic on MQTT 5 and at the topic the body's
// reply_to names on 3.1.1; [Discover] asks them on both versions at once,
// and any MQTT client can. SCHEMA
// adds the JSON Schemas of the endpoints' bodies to INFO's reply, which a
// Broker makes with [WithSchemaGenerator] (the asyncapi module's
// asyncapi.JSONSchema is one). [Broker.Gather]
// is the scatter-gather call under it: one request, every reply as it comes.
//
// # Long-running commands
//
// A [StreamFunc] or [TypedStream] handler sends any number of responses
// before it returns; [Broker.Stream] and [CallStream] yield them in index
// order. A caller that stops waiting, on a stream or a plain request, sends
// a cancel, and the handler's context ends with [ErrCallerCanceled] as its
// cause. The wire is Azure IoT Operations' RPC streaming design (the
// __stream user property); MQTT 5 only.
//
// # Errors
//
// Every call that fails returns an *[OpError]: the operation, its topic, one
// of this package's sentinels or a *[RemoteError] (compare with [errors.Is]
// and [errors.As]), and the cause beneath. [IsRetriable] says whether trying
// again can help.
//
// # Metrics and tracing
//
// [WithServedHook] sees every served request with its pattern, status and
// duration, for counters such as Prometheus's. [WithHook] sees every call
// the Broker makes and every request it serves, start and end, for tracing;
// [TopicTemplate] gives a call's topic a name of bounded cardinality.
// OpenTelemetry tracing (W3C trace context in User Properties) is the module
// github.com/mqttrpc/mqttrpc/otel, a Hook, so that this package does not
// depend on it.
//
// # Wire conventions
//
// A request on MQTT 5 carries a Response Topic under the Broker's inbox
// (<prefix>/<random token>/<random token>, 64 random bits each),
// Correlation Data (a UUID unless set), a Content Type (text/plain for a
// string, none for []byte, application/json otherwise), its headers as User
// Properties, and a Message Expiry Interval equal to the time its caller will
// wait. The reply goes to the Response Topic with the same Correlation Data,
// echoed byte for byte. A handler's error travels back as an empty reply with
// the user properties __stat (an HTTP-like status code) and __stMsg (a
// message), and the caller receives it as a *[RemoteError].
//
// MQTT 3.1.1 has no properties. With [TokenReply] a request goes to
// <topic>/<random token> and waits on <reply prefix>/<token>, which the
// handler's [ReplyTopic] ("<reply prefix>/{token}") names: no reply can answer
// another request. With [ReplyTo] a request names one reply topic, the first
// message there answers it, and requests sharing it take turns; a request
// that ended without its reply leaves the topic owing it, and the next
// waits until that late reply is dropped or can no longer come, so that no
// request takes another's reply. Headers,
// Correlation Data and error replies do not exist on 3.1.1: a failing handler
// sends nothing, and its caller times out.
//
// # Concurrency
//
// Each request runs its handler on a goroutine of its own, up to the
// subscriber's [Concurrency]; more wait in a bounded queue ([QueueLimit]), and
// beyond that a request is answered at once with [StatusServiceUnavailable].
// The Paho client's receiving goroutine is never blocked, so replies to the
// Broker's own requests keep flowing while handlers are busy.
//
// # Reconnection
//
// The Broker reconnects by itself, with a short backoff
// ([WithReconnectBackoff]), and subscribes its reply inbox, handlers and reply
// topics again on every new connection. Calls made while it is disconnected
// wait for it within their deadlines. [WithStateHandler] and
// [Broker.State] report the connection's state, and [Broker.Server] the
// server in use.
//
// # Scaling out
//
// [WithServers] gives a Broker several servers, the nodes of a cluster, tried
// in order; when the one in use dies it moves to the next. [Shared] makes
// instances of a service split its requests through an MQTT shared
// subscription, and fails with [ErrFeatureNotSupported] where an MQTT 5
// broker offers none.
package mqttrpc
