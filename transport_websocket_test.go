package mqttrpc_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/internal/brokertest"
)

// TestWebsocket: MQTT over WebSocket (ws://) carries requests and replies on
// both versions, as a caller and as a responder.
func TestWebsocket(t *testing.T) {
	t.Parallel()
	ws := brokertest.MochiWebsocket(t)
	require.True(t, strings.HasPrefix(ws.URL, "ws://"), ws.URL)
	for _, v := range []mqttrpc.Version{mqttrpc.V5, mqttrpc.V311} {
		t.Run("v"+v.String(), func(t *testing.T) {
			t.Parallel()
			tg := target{broker: ws, version: v}
			srv, cli := connect(t, tg), connect(t, tg)
			r := newRoute(t, tg, "ws")
			subscribe(t, srv, r.topic, mqttrpc.Typed(echo), r.serve(mqttrpc.QoS(1))...)
			for _, qos := range []byte{0, 1} {
				body := strings.Repeat("x", 100<<10) // more than one write
				reply, err := cli.Request(ctxTimeout(t, 5*time.Second), r.topic, body, r.call(mqttrpc.QoS(qos))...)
				require.NoError(t, err)
				assert.Equal(t, body, string(reply.Body))
			}
		})
	}
}

// TestSecureWebsocket: wss:// carries RPC through TLS and a WebSocket, with
// the Broker's TLS configuration, on both versions. A TLS terminator in
// front of the embedded broker's WebSocket listener stands in for a broker
// that speaks wss itself.
func TestSecureWebsocket(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t, t.TempDir())
	ws := brokertest.MochiWebsocket(t)
	u, err := url.Parse(ws.URL)
	require.NoError(t, err)
	cert, err := tls.LoadX509KeyPair(pki.certFile, pki.keyFile)
	require.NoError(t, err)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go terminateTLS(ln, u.Host) // ends when ln closes
	wss := "wss://" + ln.Addr().String() + u.Path

	for _, v := range []mqttrpc.Version{mqttrpc.V5, mqttrpc.V311} {
		t.Run("v"+v.String(), func(t *testing.T) {
			t.Parallel()
			tlsOpt := mqttrpc.WithTLSConfig(&tls.Config{RootCAs: pki.pool})
			server, client := connectURL(t, wss, v, tlsOpt), connectURL(t, wss, v, tlsOpt)
			topic := uniqueTopic(t, "wss")
			serveEchoAt(t, v, server, topic, topic+"/reply")
			echoRoundTrips(t, v, client, topic, topic+"/reply", 3)
		})
	}
	_, err = mqttrpc.Connect(ctxTimeout(t, 5*time.Second), wss, mqttrpc.WithConnectTimeout(2*time.Second))
	var unknownCA x509.UnknownAuthorityError
	require.ErrorAs(t, err, &unknownCA, "the system roots do not hold the test CA")
}

// terminateTLS accepts TLS connections on ln and pipes each, decrypted, to
// addr, until ln is closed.
func terminateTLS(ln net.Listener, addr string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			up, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer up.Close()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			_, _ = io.Copy(c, up)
		}()
	}
}
