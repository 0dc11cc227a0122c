// Command server runs what the node tests of web/client talk to: the
// embedded broker on 127.0.0.1, over TCP and WebSocket, and a service with an
// echo, a failing, a slow and two streaming endpoints. It prints one JSON line
// per event on stdout: first {"event":"ready",...} with the broker's URLs,
// then {"event":"started",...} as the slow handler starts, and
// {"event":"ended",...} whenever a handler's context ends before it
// returns, with the cause, so that a test can see its cancel arrive. It
// exits when stdin closes, so it never outlives the test that started it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/embedded"
)

var out = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

func emit(v map[string]any) {
	out.Lock()
	defer out.Unlock()
	if err := out.enc.Encode(v); err != nil {
		log.Fatal(err)
	}
}

// ended reports why ctx ended while the handler of m waited on it.
func ended(ctx context.Context, m *mqttrpc.Message) {
	cause := context.Cause(ctx)
	emit(map[string]any{
		"event":    "ended",
		"topic":    m.Topic,
		"canceled": errors.Is(cause, mqttrpc.ErrCallerCanceled),
		"cause":    fmt.Sprint(cause),
	})
}

func main() {
	srv, err := embedded.Start(embedded.WithAddr("127.0.0.1:0"), embedded.WithWebsocket("127.0.0.1:0"))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	b, err := mqttrpc.Connect(ctx, srv.URL())
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)
	svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "jstest", Version: "1.0.0", Description: "the node tests' service"})
	if err != nil {
		log.Fatal(err)
	}
	endpoint := func(name, pattern string, h mqttrpc.Handler) {
		if _, err := svc.Endpoint(ctx, name, pattern, h, mqttrpc.QoS(1)); err != nil {
			log.Fatal(err)
		}
	}

	// echo replies with the request's body and Content Type, and its headers.
	endpoint("echo", "js/echo", mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
		h := map[string]string{"content-type-seen": m.ContentType}
		for k, v := range m.Headers {
			h["seen-"+k] = v
		}
		return &mqttrpc.Response{Body: m.Body, ContentType: m.ContentType, Headers: h}, nil
	}))
	// fail replies with status 418 and a message naming the body.
	endpoint("fail", "js/fail", mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
		return nil, mqttrpc.Errorf(418, "no coffee: %s", m.Body)
	}))
	// slow never replies on its own: it waits for its context to end.
	endpoint("slow", "js/slow/{name}", mqttrpc.HandlerFunc(func(ctx context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
		emit(map[string]any{"event": "started", "topic": m.Topic})
		<-ctx.Done()
		ended(ctx, m)
		return nil, ctx.Err()
	}))
	// count streams {"i": 0} ... {"i": n-1} for a body n; a negative n
	// streams -n responses, then fails with 503.
	endpoint("count", "js/count", mqttrpc.StreamFunc(func(_ context.Context, m *mqttrpc.Message, s *mqttrpc.Sender) error {
		n, err := strconv.Atoi(string(m.Body))
		if err != nil {
			return mqttrpc.Errorf(400, "want a number, got %q", m.Body)
		}
		fails := n < 0
		if fails {
			n = -n
		}
		for i := range n {
			if err := s.Send(map[string]int{"i": i}); err != nil {
				return err
			}
		}
		if fails {
			return mqttrpc.Errorf(503, "stopped after %d", n)
		}
		return nil
	}))
	// ticks streams a number every 20 ms until its caller cancels.
	endpoint("ticks", "js/ticks/{name}", mqttrpc.StreamFunc(func(ctx context.Context, m *mqttrpc.Message, s *mqttrpc.Sender) error {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			if err := s.Send(i); err != nil {
				ended(ctx, m)
				return err
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				ended(ctx, m)
				return ctx.Err()
			}
		}
	}))

	emit(map[string]any{"event": "ready", "tcp": srv.URL(), "ws": srv.WebsocketURL(), "id": svc.ID()})
	_, _ = io.Copy(io.Discard, os.Stdin)
}
