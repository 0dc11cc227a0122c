package mqttrpc_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
)

// TestTokenReply: requests correlated by topic tokens run concurrently, and
// a reply that comes late or twice answers no other request.
func TestTokenReply(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, tg target) {
		t.Parallel()
		srv, cli := connect(t, tg), connect(t, tg)
		r := tokenRoute(t, "token")
		release := make(chan struct{})
		lateStarted := make(chan struct{}, 1)
		subscribe(t, srv, r.pattern(), mqttrpc.Typed(func(ctx context.Context, m *mqttrpc.Message) (string, error) {
			body := string(m.Body)
			switch body {
			case "late":
				lateStarted <- struct{}{}
				<-release
			case "twice":
				// The same reply once more, ahead of the handler's own.
				if err := srv.Publish(ctx, r.reply+"/"+m.Param("token"), "twice:"+m.Param("token"), mqttrpc.QoS(1)); err != nil {
					return "", err
				}
			case "after-late":
				// Answer only once the late reply has come and gone.
				for cli.Stats().DroppedReplies == 0 {
					select {
					case <-ctx.Done():
						return "", ctx.Err()
					case <-time.After(time.Millisecond):
					}
				}
			}
			return body + ":" + m.Param("token"), nil
		}), r.serve(mqttrpc.QoS(1))...)

		call := func(body string, timeout time.Duration) (string, error) {
			reply, err := cli.Request(ctxTimeout(t, 5*time.Second), r.topic, body, r.call(mqttrpc.QoS(1), mqttrpc.Timeout(timeout))...)
			if err != nil {
				return "", err
			}
			got, token, _ := strings.Cut(string(reply.Body), ":")
			assert.Len(t, token, 16, "the handler saw a token")
			return got, nil
		}

		// The caller gives up once the handler has the request: a timeout
		// short enough to end first could, on a loaded machine, also end
		// before the request is handled, and then no late reply would come.
		lateCtx, giveUp := context.WithCancel(context.Background())
		late := make(chan error, 1)
		go func() {
			_, err := cli.Request(lateCtx, r.topic, "late", r.call(mqttrpc.QoS(1), mqttrpc.Timeout(5*time.Second))...)
			late <- err
		}()
		select {
		case <-lateStarted:
		case <-time.After(5 * time.Second):
			t.Fatal("the late request did not reach its handler")
		}
		giveUp()
		require.ErrorIs(t, <-late, context.Canceled)
		close(release) // its reply now comes, for a request nobody waits on
		got, err := call("after-late", 5*time.Second)
		require.NoError(t, err)
		assert.Equal(t, "after-late", got, "the late reply did not answer the next request")

		got, err = call("twice", 5*time.Second)
		require.NoError(t, err)
		assert.Equal(t, "twice", got)
		got, err = call("next", 5*time.Second)
		require.NoError(t, err)
		assert.Equal(t, "next", got, "the second copy did not answer the next request")

		// Concurrent requests share the one reply subscription.
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				body := fmt.Sprint("c", i)
				got, err := call(body, 5*time.Second)
				if assert.NoError(t, err) {
					assert.Equal(t, body, got)
				}
			})
		}
		wg.Wait()
		assert.Zero(t, mqttrpc.PendingRequests(cli))
	})
}

func TestTokenReplyIsChecked(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, tg target) {
		cli := connect(t, tg)
		ctx := ctxTimeout(t, 5*time.Second)
		_, err := cli.Request(ctx, "svc/x", "", mqttrpc.TokenReply("svc/+/r"))
		assert.ErrorIs(t, err, mqttrpc.ErrInvalidTopic)
		_, err = cli.Request(ctx, "svc/x", "", mqttrpc.TokenReply("svc/r"), mqttrpc.ReplyTo("svc/r2"))
		assert.ErrorIs(t, err, mqttrpc.ErrInvalidTopic)
		// A reply topic may name only the pattern's names.
		_, err = cli.Subscriber(ctx, "svc/{token}", mqttrpc.Typed(echo), mqttrpc.ReplyTopic("svc-r/{other}"))
		assert.ErrorIs(t, err, mqttrpc.ErrInvalidTopic)
		_, err = cli.Subscriber(ctx, "svc/req/{token}", mqttrpc.Typed(echo), mqttrpc.ReplyTopic("svc/{token}/x"))
		assert.ErrorIs(t, err, mqttrpc.ErrInvalidTopic, "replies that the handler's own filter matches")
	})
}
