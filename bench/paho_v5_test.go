package bench

import (
	"context"
	"encoding/binary"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// setupPahoV5 is request/reply hand-rolled on a bare paho.golang
// paho.Client, without autopaho, as lean as a careful user would write it,
// and so the baseline mqttrpc's MQTT 5 figures are compared with. The
// requester has one wildcard reply subscription and a map from Correlation
// Data (a counter, eight bytes) to the waiting caller, each caller with a
// reply channel of its own that it reuses; replies are handed off paho's
// router goroutine through that channel. The responder hands every request
// off the router to a goroutine of its own, as any handler that does real
// work must, and echoes it to the Response Topic with the Correlation Data.
//
// The baseline before this one made 16 random bytes of Correlation Data, a
// string key and a channel per call, and derived a context with a timer for
// every reply: 123 and 228 allocations per round trip (QoS 0 and 1, 16 B,
// one caller, both ends) where this one makes 116 and 220, of which about
// 10 are this code's and the harness's context per call (allocsites.py at
// QoS 1: request 2.5, responder 3, roundTrip 4), the rest paho's. It flattered
// mqttrpc's ratios and is not kept: nothing it measured is not measured
// better here, and autopaho-v5 stays as the way many users write it.
func setupPahoV5(tb testing.TB, rawURL string, qos byte) func(int) callFunc {
	prefix := "bench/" + token()
	topic := prefix + "/echo"
	startPahoResponder(tb, rawURL, topic, qos)
	r := newPahoRequester(tb, rawURL, prefix+"/inbox/"+token())
	return func(int) callFunc {
		ch := make(chan []byte, 1) // this caller's, reused call after call
		return func(ctx context.Context, payload []byte) ([]byte, error) {
			return r.request(ctx, ch, topic, qos, payload)
		}
	}
}

// pahoRequester sends requests on a bare paho.Client and matches replies by
// Correlation Data.
type pahoRequester struct {
	c          *paho.Client
	replyTopic string // one level under the wildcard subscription
	next       atomic.Uint64

	mu      sync.Mutex
	waiting map[uint64]chan []byte
}

func newPahoRequester(tb testing.TB, rawURL, inbox string) *pahoRequester {
	r := &pahoRequester{replyTopic: inbox + "/reply", waiting: make(map[uint64]chan []byte)}
	// QoS 1 on the reply subscription, so a reply sent at QoS 1 arrives so.
	r.c = connectBarePaho(tb, rawURL, []paho.SubscribeOptions{{Topic: inbox + "/+", QoS: 1}}, r.received)
	return r
}

// received runs on paho's one router goroutine: it only hands the reply
// over, through a channel with room for it, and never blocks.
func (r *pahoRequester) received(pr paho.PublishReceived) (bool, error) {
	p := pr.Packet
	if p.Properties == nil || len(p.Properties.CorrelationData) != 8 {
		return false, nil
	}
	id := binary.BigEndian.Uint64(p.Properties.CorrelationData)
	r.mu.Lock()
	ch, ok := r.waiting[id]
	delete(r.waiting, id)
	r.mu.Unlock()
	if ok {
		ch <- p.Payload
	}
	return true, nil
}

// request publishes payload to topic and waits on ch, which must be empty
// and which nobody else uses meanwhile, for the reply. The reply topic is
// this requester's own, so a counter is enough to tell its requests apart.
func (r *pahoRequester) request(ctx context.Context, ch chan []byte, topic string, qos byte, payload []byte) ([]byte, error) {
	id := r.next.Add(1)
	cd := binary.BigEndian.AppendUint64(make([]byte, 0, 8), id)
	r.mu.Lock()
	r.waiting[id] = ch
	r.mu.Unlock()
	_, err := r.c.Publish(ctx, &paho.Publish{
		Topic:   topic,
		QoS:     qos,
		Payload: payload,
		Properties: &paho.PublishProperties{
			ResponseTopic:   r.replyTopic,
			CorrelationData: cd,
		},
	})
	if err == nil {
		select {
		case reply := <-ch:
			return reply, nil
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	r.mu.Lock()
	_, waiting := r.waiting[id]
	delete(r.waiting, id)
	r.mu.Unlock()
	if !waiting {
		// received took the entry and is sending, or has sent, the reply:
		// take it, so that ch is empty for the caller's next request.
		<-ch
	}
	return nil, err
}

// startPahoResponder echoes every request on topic to its Response Topic,
// each from a goroutine of its own: paho calls handlers one after another on
// its router goroutine and sends the request's acknowledgement only when the
// handler returns, so a handler that works (or waits for its reply's PUBACK)
// there stalls every other delivery. The replies are published within the
// responder's lifetime: paho bounds the wait for a PUBACK by its
// PacketTimeout (10 s) itself, so a timer per reply would add nothing.
func startPahoResponder(tb testing.TB, rawURL, topic string, qos byte) {
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	var c *paho.Client
	received := func(pr paho.PublishReceived) (bool, error) {
		p := pr.Packet
		if p.Properties == nil || p.Properties.ResponseTopic == "" {
			return false, nil
		}
		reply := &paho.Publish{
			Topic:      p.Properties.ResponseTopic,
			QoS:        p.QoS,
			Payload:    p.Payload,
			Properties: &paho.PublishProperties{CorrelationData: p.Properties.CorrelationData},
		}
		go func() { _, _ = c.Publish(ctx, reply) }()
		return true, nil
	}
	c = connectBarePaho(tb, rawURL, []paho.SubscribeOptions{{Topic: topic, QoS: qos}}, received)
}

// connectBarePaho dials rawURL over plain TCP, connects a paho.Client with a
// clean session, subscribes to subs and waits for the SUBACK. It does not
// reconnect: the benchmarks never drop a connection.
func connectBarePaho(tb testing.TB, rawURL string, subs []paho.SubscribeOptions, onPublish func(paho.PublishReceived) (bool, error)) *paho.Client {
	u, err := url.Parse(rawURL)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		tb.Fatal(err)
	}
	id := "bench-" + token()
	c := paho.NewClient(paho.ClientConfig{
		ClientID:          id,
		Conn:              conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){onPublish},
	})
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true}); err != nil {
		_ = conn.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{})
		<-c.Done()
	})
	if len(subs) > 0 {
		if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: subs}); err != nil {
			tb.Fatal(err)
		}
	}
	return c
}
