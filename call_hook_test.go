package mqttrpc_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
)

// recordingHook writes down what a Broker tells its Hook, and marks each
// call's message with a header and each handler's context with a value.
type recordingHook struct {
	mu     sync.Mutex
	events []string
}

type hookKey struct{}

func (h *recordingHook) add(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, fmt.Sprintf(format, args...))
}

func (h *recordingHook) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.events
	h.events = nil
	return e
}

func (h *recordingHook) StartCall(ctx context.Context, c *mqttrpc.Calling) (context.Context, mqttrpc.CallObserver) {
	h.add("call %s %s template=%q", c.Op, c.Message.Topic, c.Template)
	c.SetHeader("hooked", c.Op)
	return ctx, callRecorder{h, c.Op}
}

type callRecorder struct {
	h  *recordingHook
	op string
}

func (r callRecorder) Reply(m *mqttrpc.Message, err error) {
	if m != nil {
		r.h.add("reply %s %s err=%v", r.op, m.Body, mqttrpc.StatusCode(err))
		return
	}
	r.h.add("reply %s nil err=%v", r.op, mqttrpc.StatusCode(err))
}

func (r callRecorder) End(err error) { r.h.add("end %s err=%v", r.op, mqttrpc.StatusCode(err)) }

func (h *recordingHook) StartServe(ctx context.Context, s *mqttrpc.Serving) (context.Context, mqttrpc.ServeObserver) {
	h.add("serve %s pattern=%s group=%q service=%q endpoint=%q client=%v", s.Message.Topic, s.Pattern, s.Group, s.Service, s.Endpoint, s.Broker.ClientID() != "")
	return context.WithValue(ctx, hookKey{}, "from the hook"), serveRecorder{h}
}

type serveRecorder struct{ h *recordingHook }

func (r serveRecorder) End(s mqttrpc.Served) {
	r.h.add("served %s status=%d", s.Topic, s.Status)
}

// TestHook: a Broker's hook sees every kind of call start, each reply and
// the end, with the template the caller gave (or Discover's), and every
// request its subscribers serve, with the pattern; the header it adds goes
// out without touching the caller's map, and the context it returns is the
// handler's.
func TestHook(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		t.Parallel()
		hook := &recordingHook{}
		b := connect(t, tg, mqttrpc.WithHook(hook), mqttrpc.WithClientID(fmt.Sprintf("hooktest-%d", time.Now().UnixNano())))
		base := uniqueTopic(t, "hook")
		ctx := ctxTimeout(t, 10*time.Second)
		got := make(chan string, 4)
		subscribe(t, b, base+"/{id}/echo", mqttrpc.HandlerFunc(func(ctx context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
			got <- fmt.Sprintf("%v %s", ctx.Value(hookKey{}), m.Header("hooked"))
			if string(m.Body) == "fail" {
				return nil, mqttrpc.Errorf(409, "no")
			}
			return &mqttrpc.Response{Body: m.Body}, nil
		}), mqttrpc.Shared("g"))
		svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "hooked", Version: "1.0.0"})
		require.NoError(t, err)
		_, err = svc.Endpoint(ctx, "notify", base+"/events", mqttrpc.HandlerFunc(func(context.Context, *mqttrpc.Message) (*mqttrpc.Response, error) {
			got <- "event"
			return nil, nil
		}))
		require.NoError(t, err)
		template := mqttrpc.TopicTemplate(base + "/{id}/echo")
		user := map[string]string{"user": "ann"}
		echoed := base + "/42/echo"

		_, err = b.Request(ctx, echoed, "hi", template, mqttrpc.Headers(user))
		require.NoError(t, err)
		assert.Equal(t, "from the hook request", receive(t, got))
		assert.Equal(t, map[string]string{"user": "ann"}, user, "the caller's map is left alone")
		assert.Equal(t, []string{
			fmt.Sprintf("call request %s template=%q", echoed, base+"/{id}/echo"),
			fmt.Sprintf("serve %s pattern=%s group=\"g\" service=\"\" endpoint=\"\" client=true", echoed, base+"/{id}/echo"),
			fmt.Sprintf("served %s status=200", echoed),
			"reply request hi err=200",
			"end request err=200",
		}, hook.take())

		_, err = mqttrpc.Call[string](ctx, b, echoed, "fail")
		require.Error(t, err)
		receive(t, got)
		assert.Equal(t, []string{
			fmt.Sprintf("call request %s template=\"\"", echoed),
			fmt.Sprintf("serve %s pattern=%s group=\"g\" service=\"\" endpoint=\"\" client=true", echoed, base+"/{id}/echo"),
			fmt.Sprintf("served %s status=409", echoed),
			"reply request nil err=409",
			"end request err=409",
		}, hook.take())

		for m, err := range b.Gather(ctx, echoed, "all", mqttrpc.MaxReplies(1), template) {
			require.NoError(t, err)
			assert.Equal(t, "all", string(m.Body))
		}
		receive(t, got)
		assert.Equal(t, []string{
			fmt.Sprintf("call gather %s template=%q", echoed, base+"/{id}/echo"),
			fmt.Sprintf("serve %s pattern=%s group=\"g\" service=\"\" endpoint=\"\" client=true", echoed, base+"/{id}/echo"),
			fmt.Sprintf("served %s status=200", echoed),
			"reply gather all err=200",
			"end gather err=200",
		}, hook.take())

		require.NoError(t, b.Publish(ctx, base+"/events", "e", mqttrpc.TopicTemplate("events"), mqttrpc.QoS(1)))
		assert.Equal(t, "event", receive(t, got))
		// The handler's end may come after Publish returns: wait for it.
		require.Eventually(t, func() bool {
			hook.mu.Lock()
			defer hook.mu.Unlock()
			return len(hook.events) == 4
		}, 5*time.Second, time.Millisecond)
		assert.ElementsMatch(t, []string{
			fmt.Sprintf("call publish %s template=\"events\"", base+"/events"),
			"end publish err=200",
			fmt.Sprintf("serve %s pattern=%s group=\"\" service=\"hooked\" endpoint=\"notify\" client=true", base+"/events", base+"/events"),
			fmt.Sprintf("served %s status=200", base+"/events"),
		}, hook.take())

		n := 0
		for _, err := range mqttrpc.Discover[mqttrpc.ServicePing](ctx, b, "hooked", "", mqttrpc.MaxReplies(1)) {
			require.NoError(t, err)
			n++
		}
		assert.Equal(t, 1, n)
		events := hook.take()
		require.Len(t, events, 3, "discovery's own subscriber is not observed: %q", events)
		assert.Equal(t, "call gather mqttrpc/srv/PING/hooked template=\"mqttrpc/srv/PING/{name}\"", events[0])
		assert.Equal(t, "end gather err=200", events[2])

		_, err = b.Request(ctx, base+"/+/bad", nil)
		require.ErrorIs(t, err, mqttrpc.ErrInvalidTopic)
		assert.Empty(t, hook.take(), "a call refused for its arguments is not seen")
	})
}
