package mqttrpc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/mqttrpc/mqttrpc/internal/bufconn"
)

// reasonNoMatchingSubscribers is the MQTT 5 PUBACK reason code 0x10.
const reasonNoMatchingSubscribers = 0x10

// v5 is the MQTT 5.0 transport, on paho.golang's autopaho.
type v5 struct {
	cm *autopaho.ConnectionManager
	ev events
}

func dialV5(u *url.URL, cfg *config, ev events) (transport, error) {
	t := &v5{ev: ev}
	cc := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		TlsCfg:                        cfg.tls,
		KeepAlive:                     uint16(cfg.keepAlive / time.Second),
		CleanStartOnInitialConnection: cfg.sessionExpiry == 0,
		SessionExpiryInterval:         uint32(cfg.sessionExpiry / time.Second),
		ReconnectBackoff:              backoff(cfg.backoffMin, cfg.backoffMax),
		ConnectTimeout:                cfg.connectTimeout,
		ConnectUsername:               cfg.username,
		ConnectPassword:               []byte(cfg.password),
		OnConnectionUp:                func(*autopaho.ConnectionManager, *paho.Connack) { ev.up() },
		OnConnectionDown:              func() bool { ev.down(); return true },
		OnConnectError:                func(err error) { ev.connectError(v5ConnectError(err)) },
		ConnectPacketBuilder:          requestProblemInfo,
		ClientConfig: paho.ClientConfig{
			ClientID:          cfg.clientID,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){t.received},
		},
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		cc.AttemptConnection = dialBuffered
	}
	cm, err := autopaho.NewConnection(context.Background(), cc)
	if err != nil {
		return nil, fmt.Errorf("mqttrpc: %w", err)
	}
	t.cm = cm
	return t, nil
}

// dialBuffered hands paho a [bufconn.Conn]: buffered reads and one write per
// packet cut the system calls of a round trip by a quarter.
func dialBuffered(ctx context.Context, cfg autopaho.ClientConfig, u *url.URL) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	return bufconn.Dial(ctx, u, cfg.TlsCfg)
}

// requestProblemInfo asks for reason strings and user properties on every
// packet. paho asks for none by default, and some brokers (mochi-mqtt) then
// strip the User Properties of the PUBLISH packets they forward, which carry
// the headers and the error status of replies.
func requestProblemInfo(cp *paho.Connect, _ *url.URL) (*paho.Connect, error) {
	if cp.Properties == nil {
		cp.Properties = &paho.ConnectProperties{}
	}
	cp.Properties.RequestProblemInfo = true
	return cp, nil
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

// received converts paho's publish and hands it to the Broker's dispatcher.
// paho calls it on its one receiving goroutine and acknowledges the message
// when it returns, so it must not block.
func (t *v5) received(pr paho.PublishReceived) (bool, error) {
	p := pr.Packet
	m := &Message{Topic: p.Topic, Body: p.Payload, QoS: p.QoS, Retain: p.Retain}
	if props := p.Properties; props != nil {
		m.ReplyTo = props.ResponseTopic
		m.CorrelationID = string(props.CorrelationData)
		m.correlation = props.CorrelationData
		m.ContentType = props.ContentType
		if props.MessageExpiry != nil {
			m.expiry = time.Duration(*props.MessageExpiry) * time.Second
		}
		if len(props.User) > 0 {
			m.Headers = make(map[string]string, len(props.User))
			for _, up := range props.User {
				m.Headers[up.Key] = up.Value
			}
		}
	}
	t.ev.message(m)
	return true, nil
}

// outgoing5 holds a PUBLISH and its properties in one allocation.
type outgoing5 struct {
	p      paho.Publish
	props  paho.PublishProperties
	expiry uint32
}

func (t *v5) publish(ctx context.Context, m *Message) error {
	o := &outgoing5{p: paho.Publish{Topic: m.Topic, QoS: m.QoS, Retain: m.Retain, Payload: m.Body}}
	p := &o.p
	if m.ReplyTo != "" || m.CorrelationID != "" || m.ContentType != "" || m.expiry > 0 || len(m.Headers) > 0 {
		o.props = paho.PublishProperties{ResponseTopic: m.ReplyTo, ContentType: m.ContentType}
		p.Properties = &o.props
		switch {
		case len(m.correlation) > 0 && string(m.correlation) == m.CorrelationID: // no copy
			o.props.CorrelationData = m.correlation
		case m.CorrelationID != "":
			o.props.CorrelationData = []byte(m.CorrelationID)
		}
		if m.expiry > 0 {
			o.expiry = uint32((m.expiry + time.Second - 1) / time.Second) // round up: never expire early
			o.props.MessageExpiry = &o.expiry
		}
		for k, v := range m.Headers {
			o.props.User = append(o.props.User, paho.UserProperty{Key: k, Value: v})
		}
	}
	resp, err := t.cm.Publish(ctx, p)
	switch {
	case err != nil && resp != nil && resp.ReasonCode >= 0x80:
		return fmt.Errorf("%w: publish to %q: reason code 0x%02x", ErrRefused, m.Topic, resp.ReasonCode)
	case err != nil:
		return v5Error(err)
	case m.QoS > 0 && resp != nil && resp.ReasonCode == reasonNoMatchingSubscribers:
		return ErrNoResponders
	}
	return nil
}

func (t *v5) subscribe(ctx context.Context, filter string, qos byte) error {
	sa, err := t.cm.Subscribe(ctx, &paho.Subscribe{
		Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}},
	})
	if err != nil && sa != nil && len(sa.Reasons) == 1 {
		return fmt.Errorf("%w: subscribe to %q: reason code 0x%02x", ErrRefused, filter, sa.Reasons[0])
	}
	return v5Error(err)
}

func (t *v5) unsubscribe(ctx context.Context, filter string) error {
	_, err := t.cm.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{filter}})
	return v5Error(err)
}

func (t *v5) disconnect(ctx context.Context) error {
	return t.cm.Disconnect(ctx)
}

func (t *v5) properties() bool { return true }

// v5ConnectError marks the CONNACK refusals that retrying cannot mend.
func v5ConnectError(err error) error {
	var ce *autopaho.ConnackError
	if !errors.As(err, &ce) {
		return err
	}
	reason := (&packets.Connack{ReasonCode: ce.ReasonCode}).Reason()
	switch ce.ReasonCode {
	case 0x84, 0x85, 0x86, 0x87, 0x8A, 0x8C: // protocol, client ID, credentials, authorization, banned, auth method
		return fmt.Errorf("%w: CONNACK reason 0x%02x (%s): %w", ErrRefused, ce.ReasonCode, reason, err)
	}
	return fmt.Errorf("CONNACK reason 0x%02x (%s): %w", ce.ReasonCode, reason, err)
}

// v5Error gives paho's connection errors the Broker's own name.
func v5Error(err error) error {
	if errors.Is(err, autopaho.ConnectionDownError) || errors.Is(err, paho.ErrConnectionLost) {
		return fmt.Errorf("%w: %w", ErrDisconnected, err)
	}
	return err
}
