package mqttrpc

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/url"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/mqttrpc/mqttrpc/internal/bufconn"
)

// transport is a protocol adapter (transport_v5.go, transport_v311.go): the only code that knows
// a Paho client. It keeps the connection up by itself and reports what happens
// through the [events] it was made with; all RPC logic lives in the Broker.
type transport interface {
	// publish sends m and, for QoS 1 and 2, waits for the acknowledgement.
	publish(ctx context.Context, m *Message) error
	// subscribe subscribes to every filter, in as few SUBSCRIBE packets as
	// the protocol allows, and waits for the SUBACKs. The result has one
	// error per filter: nil if subscribed, ErrRefused if the broker said no,
	// or what kept the packet from being acknowledged.
	subscribe(ctx context.Context, subs []filterSpec) []error
	// unsubscribe removes the subscriptions and waits for the UNSUBACK.
	unsubscribe(ctx context.Context, filters ...string) error
	// disconnect sends DISCONNECT and stops reconnecting.
	disconnect(ctx context.Context) error
	// properties reports whether messages carry MQTT 5 properties: Response
	// Topic, Correlation Data, Content Type and User Properties.
	properties() bool
	// subscriptionIDs reports whether the broker tags each message with the
	// Subscription Identifier it came through (MQTT 5, if the broker offers it).
	subscriptionIDs() bool
}

// filterSpec is one filter to subscribe to, as the transport sends it.
type filterSpec struct {
	filter string
	qos    byte
	id     int  // MQTT 5 Subscription Identifier; 0 for none
	fresh  bool // no retained messages (MQTT 5 Retain Handling 2)
}

// maxFiltersPerPacket bounds a SUBSCRIBE packet, well below the packet size
// limits brokers set.
const maxFiltersPerPacket = 100

// events is how a transport reports to its Broker. The transport calls them
// on its client's own goroutines; none of them blocks.
type events struct {
	message      func(*Message)        // a PUBLISH arrived
	up           func(server *url.URL) // a connection to server was established (again)
	down         func()                // the connection was lost
	connectError func(error)           // an attempt to connect failed
}

// dial makes the transport for cfg.version and starts connecting in the
// background, to the first of servers that answers; ev.up reports when the
// connection is there.
func dial(servers []*url.URL, cfg *config, ev events) (transport, error) {
	switch cfg.version {
	case V5:
		return dialV5(servers, cfg, ev)
	case V311:
		return dialV311(servers, cfg, ev)
	}
	return nil, fail(ErrInvalidArgument, "unknown MQTT version %d", cfg.version)
}

// stallTimeout is how long a connection may take no byte of what there is to
// send before it is declared dead (see [bufconn.New]): the keep-alive
// interval, after which an MQTT broker gives a silent client up too. Callers
// never wait for it; it only ends a link that is gone without a word.
func stallTimeout(cfg *config) time.Duration {
	if cfg.keepAlive > 0 {
		return cfg.keepAlive
	}
	return bufconn.DefaultStallTimeout
}

// linkError gives a transport's error one of the Broker's names. Errors
// already named pass as they are; the end of the caller's context stays
// ctx.Err(), a deadline wrapped in ErrTimeout. Anything else the Paho
// clients and the network report (a broken pipe, a closed connection, a
// publish cut off by the connection's loss) is the connection failing
// under the call: ErrDisconnected, with the cause kept in the chain.
func linkError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrDisconnected), errors.Is(err, ErrTimeout), errors.Is(err, ErrRefused),
		errors.Is(err, ErrNoResponders), errors.Is(err, ErrClosed), errors.Is(err, ErrFeatureNotSupported),
		errors.Is(err, ErrInvalidTopic), errors.Is(err, context.Canceled):
		return err
	case err == context.DeadlineExceeded:
		return ErrTimeout
	case errors.Is(err, context.DeadlineExceeded):
		return failWith(ErrTimeout, err)
	}
	return failWith(ErrDisconnected, err)
}

// backoff waits min, then doubles up to max, each wait jittered down by up to
// a quarter so that clients cut off together do not return together.
func backoff(min, max time.Duration) autopaho.Backoff {
	return func(attempt int) time.Duration {
		if attempt <= 0 {
			return 0
		}
		d := max
		if attempt < 32 && min<<(attempt-1) > 0 && min<<(attempt-1) < max {
			d = min << (attempt - 1)
		}
		return d - rand.N(d/4+1)
	}
}
