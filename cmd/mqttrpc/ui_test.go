package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/asyncapi"
	"github.com/mqttrpc/mqttrpc/embedded"
)

// explorerLine is the line ui writes once it listens; its first group is
// the page's URL.
var explorerLine = regexp.MustCompile(`mqttrpc: explorer on (http://\S+/) \(broker (\S+)\)\n`)

// startUI runs "mqttrpc ui" in process with args, on a free loopback port
// unless args give --listen, until the test ends; then it stops it as
// SIGINT would and checks that it exited 0. It returns the page's URL and
// ui's stderr.
func startUI(t testing.TB, args ...string) (string, *output) {
	t.Helper()
	if !strings.Contains(strings.Join(args, " "), "--listen") {
		args = append([]string{"--listen", "127.0.0.1:0"}, args...)
	}
	m, stderr := background(t, append([]string{"ui"}, args...), explorerLine)
	return m[1], stderr
}

// assertEchoedThroughRelay calls the echo handler on topic tp through the
// relay of the page at page, and checks that body comes back.
func assertEchoedThroughRelay(t *testing.T, page, tp, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	b, err := mqttrpc.Connect(ctx, wsURL(page))
	require.NoError(t, err)
	defer closeBroker(b)
	reply, err := b.Request(ctx, tp, body)
	require.NoError(t, err)
	assert.Equal(t, body, string(reply.Body))
}

// wsURL returns the relay's URL beside the page at page.
func wsURL(page string) string {
	return "ws" + strings.TrimPrefix(page, "http") + "mqtt"
}

// fetch sends a request to ui and returns its response, with the body read.
func fetch(t testing.TB, method, url, password string, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	if password != "" {
		req.SetBasicAuth("operator", password)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(data)
}

// config returns what /config.json holds, as JSON values.
func config(t testing.TB, page, password string) map[string]any {
	t.Helper()
	res, body := fetch(t, http.MethodGet, page+"config.json", password, nil)
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	var cfg map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &cfg))
	return cfg
}

// echoBroker starts an embedded broker (TCP only) with an echo handler on
// a topic of its own, registered through the library, and returns the
// broker's URL and the topic.
func echoBroker(t testing.TB) (url, topicName string) {
	t.Helper()
	url = mochi(t)
	return url, echoOn(t, url)
}

// echoOn registers through the library an echo handler on the broker at
// url, on a topic of its own, and returns the topic.
func echoOn(t testing.TB, url string) string {
	t.Helper()
	topicName := topic("echo")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	b := libBroker(t, url)
	_, err := b.Subscriber(ctx, topicName, mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
		return &mqttrpc.Response{Body: m.Body, ContentType: m.ContentType}, nil
	}))
	require.NoError(t, err)
	return topicName
}

func TestUIConfig(t *testing.T) {
	t.Parallel()
	url := mochi(t)
	t.Run("relay", func(t *testing.T) {
		t.Parallel()
		page, stderr := startUI(t, "-s", url)
		assert.Contains(t, stderr.String(), "(broker "+url+")")
		cfg := config(t, page, "")
		assert.Equal(t, "mqtt", cfg["broker"])
		assert.Equal(t, mqttrpc.DefaultDiscoveryPrefix, cfg["discoveryPrefix"])
		assert.NotEmpty(t, cfg["version"])
		assert.NotContains(t, cfg, "username")
		assert.NotContains(t, cfg, "password")
	})
	t.Run("websocket server", func(t *testing.T) {
		t.Parallel()
		page, _ := startUI(t, "-s", "ws://broker.example:9001/mqtt", "--prefix", "plant/srv")
		cfg := config(t, page, "")
		assert.Equal(t, "ws://broker.example:9001/mqtt", cfg["broker"])
		assert.Equal(t, "plant/srv", cfg["discoveryPrefix"])
		// The page goes to the broker itself: no relay here.
		res, _ := fetch(t, http.MethodGet, page+"mqtt", "", nil)
		assert.Equal(t, http.StatusNotFound, res.StatusCode)
	})
	t.Run("credentials", func(t *testing.T) {
		t.Parallel()
		page, _ := startUI(t, "-s", url, "-u", "dash", "--password-file", writeFile(t, "pw", "s3cret\n"))
		cfg := config(t, page, "")
		assert.Equal(t, "dash", cfg["username"])
		assert.Equal(t, "s3cret", cfg["password"])
	})
}

// TestUIServesThePage serves the explorer and the browser client.
func TestUIServesThePage(t *testing.T) {
	t.Parallel()
	page, _ := startUI(t, "-s", mochi(t))
	res, body := fetch(t, http.MethodGet, page, "", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, "mqttrpc explorer")
	res, body = fetch(t, http.MethodGet, page+"lib/mqttrpc.js", "", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body, "export async function connect")
}

// TestUIRelay calls a handler on a broker with no WebSocket listener
// through the relay, as the page does.
func TestUIRelay(t *testing.T) {
	for name, url := range brokers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tp := echoOn(t, url)
			page, _ := startUI(t, "-s", url)
			assertEchoedThroughRelay(t, page, tp, "through the relay")
		})
	}
}

// TestUIRelayRefusesOtherOrigins keeps other sites open in the operator's
// browser from reaching the broker through the relay.
func TestUIRelayRefusesOtherOrigins(t *testing.T) {
	t.Parallel()
	page, _ := startUI(t, "-s", mochi(t))
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}}
	ws, res, err := d.Dial(wsURL(page), http.Header{"Origin": {"http://evil.example"}})
	require.Error(t, err)
	if ws != nil {
		ws.Close()
	}
	require.NotNil(t, res)
	res.Body.Close()
	assert.Equal(t, http.StatusForbidden, res.StatusCode)

	// The page's own origin is let through.
	ws, res, err = d.Dial(wsURL(page), http.Header{"Origin": {strings.TrimSuffix(page, "/")}})
	require.NoError(t, err)
	assert.Equal(t, "mqtt", ws.Subprotocol())
	res.Body.Close()
	ws.Close()
}

// TestUIRelayBrokerGone closes the page's WebSocket when the broker cannot
// be reached.
func TestUIRelayBrokerGone(t *testing.T) {
	t.Parallel()
	page, _ := startUI(t, "-s", closedPortURL(t), "--connect-timeout", "1s")
	ws, res, err := websocket.DefaultDialer.Dial(wsURL(page), nil)
	require.NoError(t, err)
	res.Body.Close()
	defer ws.Close()
	_, _, err = ws.ReadMessage()
	var closed *websocket.CloseError
	require.ErrorAs(t, err, &closed)
	assert.Equal(t, websocket.CloseTryAgainLater, closed.Code)
	assert.Contains(t, closed.Text, "broker:")
}

// TestUIOffLoopback refuses to serve the broker's credentials to the
// network without a password of the page's own.
func TestUIOffLoopback(t *testing.T) {
	t.Parallel()
	url := mochi(t)
	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		r := cli(t, "", "ui", "--listen", listen, "-s", url)
		assert.Equal(t, exitUsage, r.code, "%s: %s", listen, r.stderr)
		assert.Contains(t, r.stderr, "--ui-password-file", listen)
		assert.NotContains(t, r.stderr, "explorer on", listen)
	}
	_, stderr := startUI(t, "--listen", "0.0.0.0:0", "-s", url, "--ui-password-file", writeFile(t, "ui-pw", "open sesame\n"))
	assert.Contains(t, stderr.String(), "warning: listening on 0.0.0.0:0, off loopback")
}

// TestUIPassword asks every request for the page's password, the relay's
// upgrade too.
func TestUIPassword(t *testing.T) {
	t.Parallel()
	url := mochi(t)
	const pw = "open sesame"
	page, _ := startUI(t, "-s", url, "--ui-password-file", writeFile(t, "ui-pw", pw+"\n"))
	for _, path := range []string{"", "config.json", "lib/mqttrpc.js", "mqtt"} {
		res, _ := fetch(t, http.MethodGet, page+path, "", nil)
		assert.Equal(t, http.StatusUnauthorized, res.StatusCode, path)
		assert.Equal(t, `Basic realm="mqttrpc ui"`, res.Header.Get("WWW-Authenticate"), path)
		res, _ = fetch(t, http.MethodGet, page+path, "wrong", nil)
		assert.Equal(t, http.StatusUnauthorized, res.StatusCode, path)
	}
	res, _ := fetch(t, http.MethodGet, page, pw, nil)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "mqtt", config(t, page, pw)["broker"])

	_, res, err := websocket.DefaultDialer.Dial(wsURL(page), nil)
	require.Error(t, err)
	require.NotNil(t, res)
	res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)

	// The upgrade with the password, as a browser sends it once the
	// operator has given it for the page.
	req, err := http.NewRequest(http.MethodGet, page, nil)
	require.NoError(t, err)
	req.SetBasicAuth("operator", pw)
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}}
	ws, res, err := d.Dial(wsURL(page), http.Header{"Authorization": req.Header["Authorization"]})
	require.NoError(t, err)
	assert.Equal(t, http.StatusSwitchingProtocols, res.StatusCode)
	res.Body.Close()
	ws.Close()
}

// TestUIAsyncAPI turns SCHEMA replies into AsyncAPI documents.
func TestUIAsyncAPI(t *testing.T) {
	t.Parallel()
	url := mochi(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	b, err := mqttrpc.Connect(ctx, url, mqttrpc.WithSchemaGenerator(asyncapi.JSONSchema))
	require.NoError(t, err)
	defer closeBroker(b)
	svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "thermo", Version: "1.2.0"})
	require.NoError(t, err)
	base := topic("thermo")
	_, err = svc.Endpoint(ctx, "read", base+"/{sensor}", mqttrpc.Typed(func(_ context.Context, q query) (thermoReading, error) {
		return thermoReading{Sensor: q.Sensor}, nil
	}))
	require.NoError(t, err)
	replies, err := json.Marshal([]mqttrpc.ServiceSchemas{svc.Schemas()})
	require.NoError(t, err)
	page, _ := startUI(t, "-s", url)

	res, body := fetch(t, http.MethodPost, page+"api/asyncapi", "", bytes.NewReader(replies))
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	assert.Equal(t, "application/yaml", res.Header.Get("Content-Type"))
	assert.Contains(t, body, "asyncapi: 3.0.0")

	res, body = fetch(t, http.MethodPost, page+"api/asyncapi?format=json", "", bytes.NewReader(replies))
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
	var doc struct {
		Info       struct{ Title, Version string }
		Servers    map[string]struct{ Host string }
		Channels   map[string]struct{ Address string }
		Operations map[string]any
	}
	require.NoError(t, json.Unmarshal([]byte(body), &doc))
	assert.Equal(t, "thermo", doc.Info.Title)
	assert.Equal(t, "1.2.0", doc.Info.Version)
	var addresses []string
	for _, c := range doc.Channels {
		addresses = append(addresses, c.Address)
	}
	assert.Contains(t, addresses, base+"/{sensor}")
	assert.Contains(t, body, `"celsius"`, "the response's schema, from SCHEMA")
	require.Len(t, doc.Servers, 1)
	for _, s := range doc.Servers {
		assert.Equal(t, strings.TrimPrefix(url, "mqtt://"), s.Host)
	}

	for _, bad := range []string{"", "not json", `{"name": "thermo"}`, "[]"} {
		res, body = fetch(t, http.MethodPost, page+"api/asyncapi", "", strings.NewReader(bad))
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, "%q: %s", bad, body)
		assert.NotEmpty(t, body, bad)
	}
	res, _ = fetch(t, http.MethodPost, page+"api/asyncapi?format=xml", "", bytes.NewReader(replies))
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	res, _ = fetch(t, http.MethodGet, page+"api/asyncapi", "", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, res.StatusCode)

	huge := append([]byte("["), bytes.Repeat([]byte(`{"name":"thermo"},`), maxAsyncAPIBody/16)...)
	res, body = fetch(t, http.MethodPost, page+"api/asyncapi", "", bytes.NewReader(huge))
	assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode, body)
}

// TestUIStops ends ui on the command's context with a relayed connection
// open: the relay closes it, and no goroutine is left (TestMain checks).
func TestUIStops(t *testing.T) {
	t.Parallel()
	srv, err := embedded.Start()
	require.NoError(t, err)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := newOutput()
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"ui", "--listen", "127.0.0.1:0", "-s", srv.URL()}, strings.NewReader(""), newOutput(), stderr)
	}()
	m := explorerLine.FindStringSubmatch(stderr.waitFor(t, "explorer on"))
	require.NotNil(t, m, stderr.String())

	b, err := mqttrpc.Connect(ctx, wsURL(m[1]))
	require.NoError(t, err)
	cancel()
	require.Equal(t, exitOK, await(t, exited, "ui's exit"), stderr.String())
	closeBroker(b)
}

// TestUIRelayTLS relays to a broker that takes only TLS with a client
// certificate: the relay dials it with the TLS flags.
func TestUIRelayTLS(t *testing.T) {
	t.Parallel()
	pki := newPKI(t)
	addr := mosquittoWith(t, "user root\n"+
		"cafile "+pki.ca+"\ncertfile "+pki.serverCert+"\nkeyfile "+pki.serverKey+"\n"+
		"require_certificate true\n")
	tlsArgs := []string{"-s", "mqtts://" + addr, "--cafile", pki.ca, "--cert", pki.clientCert, "--key", pki.clientKey}
	tp := topic("tls-relay")
	serve(t, append([]string{tp, "--echo"}, tlsArgs...)...)
	page, _ := startUI(t, tlsArgs...)
	assertEchoedThroughRelay(t, page, tp, "over TLS")
}

// TestUIUsage refuses what the page cannot do.
func TestUIUsage(t *testing.T) {
	t.Parallel()
	url := mochi(t)
	for _, args := range [][]string{
		{"-V", "3.1.1"},            // the page speaks MQTT 5 only
		{"-i", "explorer"},         // the page names its own clients
		{"extra"},                  // no arguments
		{"--listen", "nowhere"},    // no port
		{"--prefix", "mqttrpc/+/"}, // a filter, not a topic
	} {
		r := cli(t, "", append([]string{"ui", "-s", url}, args...)...)
		assert.Equal(t, exitUsage, r.code, "%q: %s", args, r.stderr)
	}
}

// TestUIAnswersLoopbackNamesOnly keeps a site whose name points at
// 127.0.0.1 (DNS rebinding) from reading the page's settings, unless the
// page has a password, which the browser would not send to that site.
func TestUIAnswersLoopbackNamesOnly(t *testing.T) {
	t.Parallel()
	url := mochi(t)
	get := func(page, host, password string) int {
		req, err := http.NewRequest(http.MethodGet, page+"config.json", nil)
		require.NoError(t, err)
		req.Host = host
		if password != "" {
			req.SetBasicAuth("", password)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	page, _ := startUI(t, "-s", url)
	port := page[strings.LastIndex(page, ":")+1 : len(page)-1]
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "127.0.0.1"} {
		assert.Equal(t, http.StatusOK, get(page, host, ""), host)
	}
	assert.Equal(t, http.StatusMisdirectedRequest, get(page, "evil.example:"+port, ""))

	page, _ = startUI(t, "-s", url, "--ui-password-file", writeFile(t, "ui-pw", "pw\n"))
	assert.Equal(t, http.StatusOK, get(page, "explorer.plant.local", "pw"))
}
