package mqttrpc

import (
	"context"
	"fmt"
	"net/url"
)

// transport is a protocol adapter (v5.go, v311.go): the only code that knows
// a Paho client. It keeps the connection up by itself and reports what happens
// through the [events] it was made with; all RPC logic lives in the Broker.
type transport interface {
	// publish sends m and, for QoS 1 and 2, waits for the acknowledgement.
	publish(ctx context.Context, m *Message) error
	// subscribe subscribes to filter and waits for the SUBACK.
	subscribe(ctx context.Context, filter string, qos byte) error
	// unsubscribe removes the subscription and waits for the UNSUBACK.
	unsubscribe(ctx context.Context, filter string) error
	// disconnect sends DISCONNECT and stops reconnecting.
	disconnect(ctx context.Context) error
	// properties reports whether messages carry MQTT 5 properties: Response
	// Topic, Correlation Data, Content Type and User Properties.
	properties() bool
}

// events is how a transport reports to its Broker. The transport calls them
// on its client's own goroutines; none of them blocks.
type events struct {
	message      func(*Message) // a PUBLISH arrived
	up           func()         // a connection was established (again)
	down         func()         // the connection was lost
	connectError func(error)    // an attempt to connect failed
}

// dial makes the transport for cfg.version and starts connecting in the
// background; ev.up reports when the connection is there.
func dial(u *url.URL, cfg *config, ev events) (transport, error) {
	switch cfg.version {
	case V5:
		return dialV5(u, cfg, ev)
	case V311:
		return dialV311(u, cfg, ev)
	}
	return nil, fmt.Errorf("mqttrpc: unknown MQTT version %d", cfg.version)
}
