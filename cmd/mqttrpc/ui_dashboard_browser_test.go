package main

import (
	"bufio"
	"os/exec"
	"regexp"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc/embedded"
)

var dashboardLine = regexp.MustCompile(`^dashboard on (http://\S+/) `)

// TestBrowserDashboardExample runs examples/dashboard, the page the README
// shows, against a broker with a WebSocket listener, and clicks its button
// in Chromium: the device's reply is shown as the page's text.
func TestBrowserDashboardExample(t *testing.T) {
	t.Parallel()
	tab := browser(t)
	srv, err := embedded.Start(embedded.WithWebsocket("127.0.0.1:0"))
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })

	bin := buildBinary(t, "../../examples/dashboard", "dashboard")
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-broker", srv.URL(), "-ws", srv.WebsocketURL())
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	m := dashboardLine.FindStringSubmatch(line)
	require.NotNil(t, m, "dashboard printed %q", line)

	require.NoError(t, chromedp.Do(tab, chromedp.Navigate(m[1])))
	// The page sets the button's handler once it has connected.
	waitUntil(t, tab, `document.getElementById('reboot')?.onclick`, "the page connected")
	require.NoError(t, chromedp.Do(tab, chromedp.Click("#reboot")))
	waitUntil(t, tab, `document.getElementById('out').textContent !== ''`, "the reply is shown")
	text, err := chromedp.Run(tab, chromedp.Text("#out"))
	require.NoError(t, err)
	assert.Equal(t, `rebooting: "device 42 reboots in 5 s"`, text)
	screenshot(t, tab, "dashboard")
}
