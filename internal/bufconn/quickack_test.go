package bufconn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc/internal/wsconn"
)

// nagleListener accepts connections with Nagle's algorithm on, as
// mosquitto's are unless set_tcp_nodelay is true (Go turns it off).
type nagleListener struct{ net.Listener }

func (l nagleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		err = c.(*net.TCPConn).SetNoDelay(false)
	}
	return c, err
}

// serveNagle answers each byte read from c with two small writes, as a
// broker sends a PUBACK and then the reply: under Nagle's algorithm the
// second waits until the client acknowledges the first.
func serveNagle(c net.Conn) {
	defer c.Close()
	b := make([]byte, 1)
	for {
		if _, err := io.ReadFull(c, b); err != nil {
			return
		}
		if _, err := c.Write([]byte{'a'}); err != nil {
			return
		}
		if _, err := c.Write([]byte{'b'}); err != nil {
			return
		}
	}
}

// nagleServer starts a server of serveNagle over TCP, TLS and WebSocket,
// each with Nagle's algorithm on, and returns their URLs and the TLS
// configuration that trusts the server.
func nagleServer(t *testing.T) (urls []string, tlsConfig *tls.Config) {
	t.Helper()
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { ln.Close() })
		return nagleListener{ln}
	}
	accept := func(ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveNagle(c)
		}
	}
	plain := listen()
	go accept(plain)

	cert, pool := selfSigned(t)
	secure := listen()
	go accept(tls.NewListener(secure, &tls.Config{Certificates: []tls.Certificate{cert}}))

	web := listen()
	up := websocket.Upgrader{Subprotocols: []string{wsconn.Subprotocol}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err == nil {
			serveNagle(wsconn.New(ws))
		}
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(web)
	t.Cleanup(func() { srv.Close() })

	return []string{
		"mqtt://" + plain.Addr().String(),
		"mqtts://" + secure.Addr().String(),
		"ws://" + web.Addr().String() + "/mqtt",
	}, &tls.Config{RootCAs: pool}
}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// exchangeMedian sends a byte and reads both answers, n times, and returns
// the median time an exchange took.
func exchangeMedian(t *testing.T, c net.Conn, n int) time.Duration {
	t.Helper()
	took := make([]time.Duration, n)
	got := make([]byte, 2)
	for i := range took {
		start := time.Now()
		_, err := c.Write([]byte{'q'})
		require.NoError(t, err)
		_, err = io.ReadFull(c, got)
		require.NoError(t, err)
		took[i] = time.Since(start)
		require.Equal(t, "ab", string(got))
	}
	slices.Sort(took)
	return took[n/2]
}

// TestReadsAreAcknowledgedAtOnce: against a server with Nagle's algorithm
// on, whose second small packet waits for the acknowledgement of the
// first, a Conn's exchanges do not wait for a delayed acknowledgement, over
// TCP, TLS and WebSocket. The same exchanges on the bare connection are
// timed for comparison: on Linux they take about 40 ms.
func TestReadsAreAcknowledgedAtOnce(t *testing.T) {
	if !QuickAck {
		t.Skip("no TCP_QUICKACK on this platform")
	}
	urls, tlsConfig := nagleServer(t)
	for _, raw := range urls {
		u, err := url.Parse(raw)
		require.NoError(t, err)
		t.Run(u.Scheme, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := Dial(ctx, u, tlsConfig, 0)
			require.NoError(t, err)
			defer c.Close()
			exchangeMedian(t, c, 5) // past the kernel's quick acknowledgements of a new connection
			median := exchangeMedian(t, c, 30)

			// The connection under another Conn, read and written directly.
			other, err := Dial(ctx, u, tlsConfig, 0)
			require.NoError(t, err)
			defer other.Close()
			exchangeMedian(t, other.Conn, 5)
			bare := exchangeMedian(t, other.Conn, 10)
			t.Logf("median exchange: %v with quick acknowledgements, %v on the bare %T", median, bare, other.Conn)
			assert.Less(t, median, 5*time.Millisecond, "reads wait for delayed acknowledgements")
			assert.True(t, peerOf(c.Conn).holds.Load(), "the server's holds went unnoticed")
		})
	}
}

// TestNoQuickAckWithoutHolds: a server that sends its packets at once (Go's
// default, as mosquitto with set_tcp_nodelay true) is never marked as
// holding packets back, so its Conns leave acknowledgements to the kernel.
func TestNoQuickAckWithoutHolds(t *testing.T) {
	if !QuickAck {
		t.Skip("no TCP_QUICKACK on this platform")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveNagle(c) // with Nagle's algorithm off, as Go leaves it
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, &url.URL{Scheme: "mqtt", Host: ln.Addr().String()}, nil, 0)
	require.NoError(t, err)
	defer c.Close()
	median := exchangeMedian(t, c, 30)
	t.Logf("median exchange: %v", median)
	assert.Less(t, median, 5*time.Millisecond)
	assert.False(t, peerOf(c.Conn).holds.Load(), "a server that holds nothing back was marked as holding")
	// Nor does a pause between exchanges: the client writes before each.
	// The pause is the point, not a wait for an event: it is as long as a
	// hold, so only the write before the next read tells the two apart.
	time.Sleep(50 * time.Millisecond)
	exchangeMedian(t, c, 3)
	assert.False(t, peerOf(c.Conn).holds.Load(), "a pause was taken for a hold")
}

// BenchmarkQuickAck is the cost a Conn adds to each read that reaches the
// socket, against a read of one byte that was waiting there.
func BenchmarkQuickAck(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(b, err)
	defer client.Close()
	server, err := ln.Accept()
	require.NoError(b, err)
	defer server.Close()

	b.Run("ack", func(b *testing.B) {
		q := newQuickAcker(client)
		if q == nil {
			b.Skip("no TCP_QUICKACK on this platform")
		}
		for b.Loop() {
			q.ack()
		}
	})
	b.Run("read", func(b *testing.B) {
		chunk := make([]byte, 4096)
		p := make([]byte, 1)
		left := 0 // bytes waiting in the client's socket
		for b.Loop() {
			if left == 0 {
				b.StopTimer()
				_, err := server.Write(chunk)
				require.NoError(b, err)
				_, err = io.ReadFull(client, chunk[:1]) // all of it has arrived once one byte has
				require.NoError(b, err)
				left = len(chunk) - 1
				b.StartTimer()
			}
			_, err := client.Read(p)
			require.NoError(b, err)
			left--
		}
	})
}
