package interop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

// TestPahoPythonStream calls mqttrpc streaming handlers from paho-mqtt
// (py/stream_caller.py), which speaks the streaming wire of Azure IoT
// Operations' design from its description alone, on both brokers: a stream
// that ends well, one whose handler fails, and one the Python caller
// cancels.
func TestPahoPythonStream(t *testing.T) {
	t.Parallel()
	py := pahoPython(t)
	for _, b := range brokertest.All(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Run("complete", func(t *testing.T) { streamComplete(t, py, b) })
			t.Run("error", func(t *testing.T) { streamError(t, py, b) })
			t.Run("cancel", func(t *testing.T) { streamCancel(t, py, b) })
		})
	}
}

// streamCall runs stream_caller.py and returns the messages it received, in
// arrival order, and the data bodies in index order.
func streamCall(ctx context.Context, t *testing.T, py *scriptClient, b *brokertest.Broker, topic string, cancelAfter int) ([]*wireMsg, [][]byte) {
	t.Helper()
	out, err := runOutput(py.command(ctx, "stream_caller.py", scriptConfig{
		URL: b.URL, Version: int(mqttrpc.V5), Topic: topic, ReplyTopic: topic + "/reply",
		Msg:         &wireMsg{Body: []byte("go"), CorrelationData: []byte("\x00\xffstream"), ContentType: "text/plain"},
		CancelAfter: cancelAfter,
	}))
	if err != nil {
		t.Fatalf("stream_caller.py: %v", err)
	}
	var msgs []*wireMsg
	for line := range strings.Lines(string(out)) {
		var ev scriptEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("stream_caller.py: bad output line %q: %v", line, err)
		}
		switch ev.Event {
		case "message":
			msgs = append(msgs, ev.Message)
		case "end":
			return msgs, ev.Bodies
		}
	}
	t.Fatalf("stream_caller.py did not end: %q", out)
	return nil, nil
}

// last returns the last message of msgs, the one that ended the stream.
func last(t *testing.T, msgs []*wireMsg) *wireMsg {
	t.Helper()
	if len(msgs) == 0 {
		t.Fatal("no message received")
	}
	return msgs[len(msgs)-1]
}

// streamComplete: a handler sends five responses at QoS 1; the Python
// caller gets each once, with the request's Correlation Data, and the end
// c:5:last.
func streamComplete(t *testing.T, py *scriptClient, b *brokertest.Broker) {
	ctx, cancel := context.WithTimeout(t.Context(), caseTimeout)
	defer cancel()
	rpc := connect(ctx, t, b, mqttrpc.V5)
	topic := "interop/stream-complete/" + b.Name
	subscribe(t, rpc, topic, mqttrpc.StreamFunc(func(_ context.Context, m *mqttrpc.Message, s *mqttrpc.Sender) error {
		for i := range 5 {
			if err := s.Send(fmt.Sprintf("%s %d", m.Body, i)); err != nil {
				return err
			}
		}
		return nil
	}), mqttrpc.QoS(1))

	msgs, bodies := streamCall(ctx, t, py, b, topic, 0)
	for _, m := range msgs {
		checkBytes(t, "Correlation Data", m.CorrelationData, []byte("\x00\xffstream"))
	}
	if len(msgs) != 6 {
		t.Errorf("%d messages, want 5 responses and the end", len(msgs))
	}
	for i, body := range bodies {
		checkEqual(t, fmt.Sprintf("response %d", i), string(body), fmt.Sprintf("go %d", i))
	}
	if len(bodies) != 5 {
		t.Errorf("%d responses, want 5", len(bodies))
	}
	end := last(t, msgs)
	checkEqual(t, "end", end.UserProperties["__stream"], "c:5:last")
	checkEqual(t, "end body", string(end.Body), "")
	if st := rpc.Stats(); st.StreamsServed != 1 {
		t.Errorf("StreamsServed %d, want 1", st.StreamsServed)
	}
}

// streamError: a handler that fails after one response ends the stream
// with s:0 and its status in __stat/__stMsg.
func streamError(t *testing.T, py *scriptClient, b *brokertest.Broker) {
	ctx, cancel := context.WithTimeout(t.Context(), caseTimeout)
	defer cancel()
	rpc := connect(ctx, t, b, mqttrpc.V5)
	topic := "interop/stream-error/" + b.Name
	subscribe(t, rpc, topic, mqttrpc.StreamFunc(func(_ context.Context, _ *mqttrpc.Message, s *mqttrpc.Sender) error {
		if err := s.Send("10%"); err != nil {
			return err
		}
		return mqttrpc.Errorf(409, "flash busy")
	}), mqttrpc.QoS(1))

	msgs, bodies := streamCall(ctx, t, py, b, topic, 0)
	if len(bodies) != 1 || string(bodies[0]) != "10%" {
		t.Errorf("responses %q, want [10%%]", bodies)
	}
	end := last(t, msgs)
	checkEqual(t, "end", end.UserProperties["__stream"], "s:0")
	checkEqual(t, "__stat", end.UserProperties["__stat"], "409")
	checkEqual(t, "__stMsg", end.UserProperties["__stMsg"], "flash busy")
}

// streamCancel: a handler streams until stopped; the Python caller cancels
// after three responses. The handler's context ends with
// ErrCallerCanceled, and the caller gets the final status 499.
func streamCancel(t *testing.T, py *scriptClient, b *brokertest.Broker) {
	ctx, cancel := context.WithTimeout(t.Context(), caseTimeout)
	defer cancel()
	rpc := connect(ctx, t, b, mqttrpc.V5)
	topic := "interop/stream-cancel/" + b.Name
	cause := make(chan error, 1)
	subscribe(t, rpc, topic, mqttrpc.StreamFunc(func(ctx context.Context, _ *mqttrpc.Message, s *mqttrpc.Sender) error {
		for i := 0; ; i++ {
			if err := s.Send(i); err != nil {
				cause <- context.Cause(ctx)
				return err
			}
			if i >= 3 { // then wait for the cancel, not to flood the caller
				<-ctx.Done()
			}
		}
	}), mqttrpc.QoS(1))

	msgs, _ := streamCall(ctx, t, py, b, topic, 3)
	end := last(t, msgs)
	checkEqual(t, "end", end.UserProperties["__stream"], "s:0")
	checkEqual(t, "__stat", end.UserProperties["__stat"], "499")
	select {
	case err := <-cause:
		if !errors.Is(err, mqttrpc.ErrCallerCanceled) {
			t.Errorf("the handler's context ended with %v, want ErrCallerCanceled", err)
		}
	case <-ctx.Done():
		t.Fatal("the handler did not stop")
	}
	if st := rpc.Stats(); st.Canceled != 1 {
		t.Errorf("Canceled %d, want 1", st.Canceled)
	}
}
