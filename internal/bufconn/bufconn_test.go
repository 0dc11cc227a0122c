package bufconn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// tcpPair returns both ends of a loopback TCP connection, closed at the end
// of the test. Unlike net.Pipe, its writes complete as soon as the kernel
// takes the bytes, as they do against a broker.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		assert.NoError(t, err)
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server = <-accepted
	require.NotNil(t, server)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// writePacket writes p as paho.golang does: between Lock and Unlock, in parts.
func writePacket(t *testing.T, c *Conn, p []byte) {
	c.Lock()
	defer c.Unlock()
	for len(p) > 0 {
		n := min(len(p), 2)
		_, err := c.Write(p[:n])
		assert.NoError(t, err)
		p = p[n:]
	}
}

// readAll collects what arrives on server until it closes.
func readAll(server net.Conn) <-chan []byte {
	received := make(chan []byte, 1)
	go func() {
		all, _ := io.ReadAll(server)
		received <- all
	}()
	return received
}

func TestLoneWriterWritesAtOnce(t *testing.T) {
	client, server := tcpPair(t)
	c := New(client, 0)
	defer c.Close()
	for i := range 10 {
		writePacket(t, c, []byte{1, 2, 3})
		// Unlock returned, so the write has been made, by the writer itself.
		assert.Equal(t, uint64(i+1), c.Writes(), "one write per packet, made in Unlock")
		got := make([]byte, 3)
		_, err := io.ReadFull(server, got)
		require.NoError(t, err)
		assert.Equal(t, []byte{1, 2, 3}, got)
	}
}

// TestConcurrentPacketsShareWrites holds the peer's reads back while many
// writers send packets: the first write blocks, the writers go on without
// waiting, and their packets leave together once the peer reads.
func TestConcurrentPacketsShareWrites(t *testing.T) {
	client, server := net.Pipe() // synchronous: a write waits for the reader
	c := New(client, 0)
	const packets = 200
	var wg sync.WaitGroup
	for i := range packets {
		wg.Go(func() { writePacket(t, c, bytes.Repeat([]byte{byte(i)}, 3)) })
	}
	wg.Wait() // every writer returned although the peer has read nothing
	received := readAll(server)
	require.NoError(t, c.Close())
	all := <-received

	t.Logf("%d packets in %d writes", packets, c.Writes())
	assert.Less(t, c.Writes(), uint64(packets/10), "packets share writes")
	require.Len(t, all, 3*packets, "Close flushed everything")
	seen := make(map[byte]bool)
	for i := 0; i < len(all); i += 3 {
		assert.Equal(t, bytes.Repeat(all[i:i+1], 3), all[i:i+3], "packet bytes stay together")
		seen[all[i]] = true
	}
	assert.Len(t, seen, packets, "every packet arrived once")
}

// TestWholePacketWrites is the paho.mqtt.golang shape: one Write per packet,
// no Lock, from one goroutine.
func TestWholePacketWrites(t *testing.T) {
	client, server := net.Pipe()
	c := New(client, 0)
	var want []byte
	for i := range 100 {
		p := bytes.Repeat([]byte{byte(i)}, 5)
		want = append(want, p...)
		n, err := c.Write(p)
		require.NoError(t, err)
		require.Equal(t, len(p), n)
	}
	received := readAll(server)
	require.NoError(t, c.Close())
	assert.Equal(t, want, <-received, "in order, complete")
	assert.Less(t, c.Writes(), uint64(10))
}

func TestCloseFlushesPending(t *testing.T) {
	client, server := net.Pipe()
	c := New(client, 0)
	writePacket(t, c, []byte("first"))  // blocks on the pipe, then goes to the flusher
	writePacket(t, c, []byte("second")) // pending
	_, err := c.Write([]byte("third"))  // pending
	require.NoError(t, err)
	received := readAll(server)
	require.NoError(t, c.Close())
	assert.Equal(t, "firstsecondthird", string(<-received))
	_, err = c.Write([]byte("x"))
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.ErrorIs(t, c.Close(), net.ErrClosed, "closing twice")
}

func TestWriteErrorReachesWriters(t *testing.T) {
	client, server := tcpPair(t)
	c := New(client, 0)
	defer c.Close()
	require.NoError(t, server.Close())
	// The peer is gone: writes fail once the kernel learns it (a reset).
	require.Eventually(t, func() bool {
		writePacket(t, c, make([]byte, 1024))
		return c.Err() != nil
	}, 5*time.Second, time.Millisecond)
	_, err := c.Write([]byte("y"))
	assert.Error(t, err, "the failure sticks")
	assert.ErrorIs(t, err, c.Err())
	assert.ErrorIs(t, c.WaitWritable(context.Background()), c.Err())
	_, err = c.Read(make([]byte, 1))
	assert.Error(t, err, "readers see the connection closed")
}

// TestStalledPeerFailsWrites: a peer that takes no byte (nothing reads the
// pipe) kills the connection after the stall timeout; writers never wait on it.
func TestStalledPeerFailsWrites(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	const stall = 50 * time.Millisecond
	c := New(client, stall)
	start := time.Now()
	writePacket(t, c, []byte("stuck"))
	assert.Less(t, time.Since(start), stall, "the writer does not wait for the stalled link")

	require.Eventually(t, func() bool { return c.Err() != nil }, 5*time.Second, time.Millisecond)
	assert.ErrorIs(t, c.Err(), ErrStalled)
	_, err := c.Write([]byte("more"))
	assert.ErrorIs(t, err, ErrStalled)
	_, err = c.Read(make([]byte, 1))
	assert.Error(t, err, "the connection is closed, so its reader learns it")
	require.NoError(t, c.Close())
}

// TestReadAfterWriteFailureSaysWhy: a failed write closes the socket under
// a blocked reader, which must then get that write's error: paho.mqtt.golang
// ignores a read that ends with "use of closed network connection", taking
// it for its own Close, and would not notice the connection was lost.
func TestReadAfterWriteFailureSaysWhy(t *testing.T) {
	client, _ := tcpPair(t) // the peer reads nothing: writes stall once the socket is full
	c := New(client, 50*time.Millisecond)
	defer c.Close()
	readErr := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		readErr <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for c.WaitWritable(ctx) == nil {
		_, err := c.Write(make([]byte, 64<<10))
		require.NoError(t, err)
	}
	require.ErrorIs(t, c.Err(), ErrStalled)
	select {
	case err := <-readErr:
		assert.ErrorIs(t, err, ErrStalled)
		assert.NotErrorIs(t, err, net.ErrClosed)
	case <-ctx.Done():
		t.Fatal("the blocked read did not end")
	}
}

// TestWaitWritableEndsWithContext: while the link is stalled and the buffer
// full, a caller waits for room only as long as its context lets it, and
// gets room once the peer reads again.
func TestWaitWritableEndsWithContext(t *testing.T) {
	client, server := net.Pipe()
	c := New(client, time.Minute)
	require.NoError(t, c.WaitWritable(context.Background()), "empty: room at once")
	for range Limit/(16<<10) + 1 {
		writePacket(t, c, make([]byte, 16<<10))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.WaitWritable(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	room := make(chan error, 1)
	go func() { room <- c.WaitWritable(context.Background()) }()
	received := readAll(server) // the link moves again
	select {
	case err := <-room:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("no room after the peer read")
	}
	require.NoError(t, c.Close())
	assert.Len(t, <-received, (Limit/(16<<10)+1)*(16<<10))
}

func TestReadsAreBuffered(t *testing.T) {
	client, server := net.Pipe()
	c := New(client, 0)
	defer c.Close()
	go func() { _, _ = server.Write([]byte("abc")) }()
	b := make([]byte, 1)
	for _, want := range "abc" {
		_, err := io.ReadFull(c, b)
		require.NoError(t, err)
		assert.Equal(t, byte(want), b[0])
	}
}

func TestWriteDeadlinesAreTheConnsOwn(t *testing.T) {
	client, server := net.Pipe()
	c := New(client, 0)
	// paho.mqtt.golang sets a write deadline around each packet; a past one
	// must not fail the writes the flusher makes later.
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(-time.Second)))
	_, err := c.Write([]byte("late"))
	require.NoError(t, err)
	received := readAll(server)
	require.NoError(t, c.Close())
	assert.Equal(t, "late", string(<-received))
	assert.False(t, errors.Is(c.Err(), ErrStalled))
}

// TestCloseOnStalledLinkIsBounded: Close tries to flush for a while, then
// gives up rather than waiting out the stall timeout.
func TestCloseOnStalledLinkIsBounded(t *testing.T) {
	client, server := net.Pipe() // nothing reads
	defer server.Close()
	c := New(client, time.Hour)
	writePacket(t, c, []byte("never read"))
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(closeBudget + 10*time.Second):
		t.Fatal("Close waited for the stall timeout")
	}
	_, err := c.Write([]byte("x"))
	assert.Error(t, err)
}
