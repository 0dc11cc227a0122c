package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
)

// chromiumPath finds Chromium. Without it the test is skipped, or fails in
// CI (CI non-empty), which installs it.
func chromiumPath(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium required in CI")
	}
	t.Skip("chromium not installed")
	return ""
}

// browser starts a headless Chromium for the test, with a profile of its
// own, and returns a context for its first tab, bounded by waitLimit. The
// browser logs the page's console and uncaught exceptions with t.Logf, and
// stops when the test ends.
func browser(t testing.TB) context.Context {
	t.Helper()
	// Exactly these flags: the machine's closed network leaves Chromium's
	// own background requests (updates, sync, QUIC probes) hanging.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value))
			}
			t.Logf("browser console.%s: %s", ev.Type, strings.Join(args, " "))
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			t.Logf("browser exception at %s:%d: %s", d.URL, d.LineNumber+1, desc)
		}
	}))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit
	})
	// The first Run starts the browser, which lives as long as ctx: no
	// timeout on it. The window is one people use, not headless's 800×600.
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1360, 900)))
	limited, cancel := context.WithTimeout(ctx, waitLimit)
	t.Cleanup(cancel)
	return limited
}

// screenshot saves a full-page PNG of the tab of ctx, as name.png, in the
// directory MQTTRPC_SCREENSHOTS names, to look at after the run, or else
// under the test's temporary directory; and logs its path.
func screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	dir := os.Getenv("MQTTRPC_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	p := filepath.Join(dir, name+".png")
	require.NoError(t, os.WriteFile(p, png, 0o644))
	t.Logf("screenshot %s", p)
}

// js quotes s as a JavaScript string.
func js(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// text returns the text content of the first element sel matches, or ""
// when none does.
func text(t testing.TB, tab context.Context, sel string) string {
	t.Helper()
	return evaluate[string](t, tab, fmt.Sprintf(`return document.querySelector(%s)?.textContent ?? ''`, js(sel)))
}

// evaluate runs the body of an async function in the page and returns
// what it resolves to, decoded into T.
func evaluate[T any](t testing.TB, ctx context.Context, body string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T]("(async () => {\n"+body+"\n})()", chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	return v
}

// TestBrowserCallsThroughTheRelay loads the page's browser client in
// Chromium, which calls handlers that the Go library serves on a broker
// with no WebSocket listener, through ui's relay: a plain call and a
// stream.
func TestBrowserCallsThroughTheRelay(t *testing.T) {
	t.Parallel()
	url, echo := echoBroker(t)
	counter := topic("count")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	b := libBroker(t, url)
	_, err := b.Subscriber(ctx, counter, mqttrpc.StreamFunc(func(_ context.Context, m *mqttrpc.Message, s *mqttrpc.Sender) error {
		n, err := strconv.Atoi(string(m.Body))
		if err != nil {
			return &mqttrpc.RemoteError{Code: mqttrpc.StatusBadRequest, Message: err.Error()}
		}
		for i := range n {
			if err := s.Send(map[string]int{"n": i}); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, err)
	page, _ := startUI(t, "-s", url)

	tab := browser(t)
	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(page)))
	got := evaluate[map[string]any](t, tab, fmt.Sprintf(`
const m = await import('./lib/mqttrpc.js')
const cfg = await (await fetch('config.json')).json()
const c = await m.connect(new URL(cfg.broker, location.href.replace(/^http/, 'ws')).href,
  { username: cfg.username, password: cfg.password })
try {
  const echoed = await c.call(%q, { hello: 'browser' })
  const counted = []
  for await (const r of c.stream(%q, '3')) counted.push(r.json().n)
  return { echoed, counted }
} finally {
  await c.end()
}`, echo, counter))
	assert.Equal(t, map[string]any{"hello": "browser"}, got["echoed"])
	assert.Equal(t, []any{0.0, 1.0, 2.0}, got["counted"])
	screenshot(t, tab, "explorer")
}

// waitUntil polls the JavaScript expression cond in the page, every
// animation frame, until it is truthy, and fails the test with what if the
// tab's time (waitLimit) runs out first.
func waitUntil(t testing.TB, ctx context.Context, cond, what string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`new Promise(resolve => {
  const check = () => { try { if (`+cond+`) return resolve(true) } catch {} ; requestAnimationFrame(check) }
  check()
})`, chromedp.EvalAwaitPromise))
	require.NoError(t, err, "waiting until %s (%s)", what, cond)
}
