package bench

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// setupPahoV311 is request/reply written by hand on paho.mqtt.golang (MQTT
// 3.1.1), laid out as setupMQTTRPCv311 is: caller i sends to <prefix>/req/<i>
// and waits on its own <prefix>/rep/<i>; one responder subscription serves
// them all and derives the reply topic from the request topic.
func setupPahoV311(tb testing.TB, rawURL string, qos byte) func(int) callFunc {
	prefix := "bench/" + token()
	reqPrefix, repPrefix := prefix+"/req/", prefix+"/rep/"
	responder := connectPaho311(tb, rawURL, nil)
	echo := func(c mqtt.Client, m mqtt.Message) {
		to := repPrefix + strings.TrimPrefix(m.Topic(), reqPrefix)
		// paho.mqtt.golang's README: a handler must not block, and a publish
		// from a handler belongs on a goroutine of its own.
		go c.Publish(to, m.Qos(), false, m.Payload())
	}
	if err := waitToken(context.Background(), responder.Subscribe(reqPrefix+"+", qos, echo)); err != nil {
		tb.Fatal(err)
	}
	// Replies go to one default handler that looks the caller up by topic:
	// per-subscription callbacks would put every reply through paho's router,
	// which matches each message against every route, splitting both topics
	// into new slices each time (64 callers: 64 routes per message).
	var mu sync.Mutex
	waiting := map[string]chan []byte{}
	requester := connectPaho311(tb, rawURL, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		ch := waiting[m.Topic()]
		mu.Unlock()
		select {
		case ch <- m.Payload():
		default: // a late reply to a request that gave up, or an unknown topic
		}
	})
	// Callers are made again for every case; their reply subscriptions are
	// kept, as mqttrpc keeps the subscriptions ReplyTo makes.
	callers := map[int]callFunc{}
	return func(i int) callFunc {
		// Called by one goroutine at a time; mu is for the handler's reads.
		mu.Lock()
		call, ok := callers[i]
		mu.Unlock()
		if ok {
			return call
		}
		id := strconv.Itoa(i)
		reqTopic, repTopic := reqPrefix+id, repPrefix+id
		// One request at a time per caller, so the next message on its reply
		// topic is its reply; capacity 1 keeps the handler from blocking.
		replies := make(chan []byte, 1)
		mu.Lock()
		waiting[repTopic] = replies
		mu.Unlock()
		if err := waitToken(context.Background(), requester.Subscribe(repTopic, 1, nil)); err != nil {
			tb.Fatal(err)
		}
		call = func(ctx context.Context, payload []byte) ([]byte, error) {
			select { // drop a late reply left by a request that timed out
			case <-replies:
			default:
			}
			if err := waitToken(ctx, requester.Publish(reqTopic, qos, false, payload)); err != nil {
				return nil, err
			}
			select {
			case p := <-replies:
				return p, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		mu.Lock()
		callers[i] = call
		mu.Unlock()
		return call
	}
}

// connectPaho311 connects a client; onMessage, if not nil, receives every
// message that no subscription's own callback takes.
func connectPaho311(tb testing.TB, rawURL string, onMessage mqtt.MessageHandler) mqtt.Client {
	opts := mqtt.NewClientOptions().
		AddBroker(rawURL).
		SetProtocolVersion(4).
		SetClientID("bench-" + token()).
		SetCleanSession(true).
		SetKeepAlive(30 * time.Second).
		SetConnectTimeout(5 * time.Second)
	if onMessage != nil {
		opts.SetDefaultPublishHandler(onMessage)
	}
	c := mqtt.NewClient(opts)
	if err := waitToken(context.Background(), c.Connect()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Disconnect(100) })
	return c
}

// waitToken waits for a paho token within ctx, bounded to 10 s when ctx has
// no deadline of its own (setup calls); round trips already carry one.
func waitToken(ctx context.Context, tok mqtt.Token) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return errors.Join(ctx.Err(), errors.New("paho token not done"))
	}
}
