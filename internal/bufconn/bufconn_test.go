package bufconn

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingConn counts the writes that reach the connection.
type countingConn struct {
	net.Conn
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes++
	return c.Conn.Write(p)
}

func TestPacketsLeaveInOneWriteAndDoNotInterleave(t *testing.T) {
	client, server := net.Pipe()
	counting := &countingConn{Conn: client}
	c := New(counting)
	received := make(chan []byte)
	go func() {
		all, _ := io.ReadAll(server)
		received <- all
	}()

	const packets = 100
	var wg sync.WaitGroup
	for i := range packets {
		wg.Go(func() {
			c.Lock()
			defer c.Unlock()
			for range 3 { // header, properties, payload: as paho writes them
				_, err := c.Write([]byte{byte(i)})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	require.NoError(t, client.Close())
	all := <-received

	assert.Equal(t, packets, counting.writes, "one write per packet")
	require.Len(t, all, 3*packets)
	for i := 0; i < len(all); i += 3 {
		assert.Equal(t, bytes.Repeat(all[i:i+1], 3), all[i:i+3], "packet bytes stay together")
	}
}

func TestLargePacketIsWrittenDirectly(t *testing.T) {
	client, server := net.Pipe()
	counting := &countingConn{Conn: client}
	c := New(counting)
	go func() { _, _ = io.Copy(io.Discard, server) }()
	c.Lock()
	_, err := c.Write([]byte{1, 2})
	require.NoError(t, err)
	_, err = c.Write(make([]byte, maxBatch))
	require.NoError(t, err)
	c.Unlock()
	assert.Equal(t, 2, counting.writes, "the header, then the large body as it is")
}

func TestFailedWriteClosesTheConnection(t *testing.T) {
	client, server := net.Pipe()
	c := New(client)
	require.NoError(t, server.Close())
	c.Lock()
	_, err := c.Write([]byte("x"))
	require.NoError(t, err, "buffered until the packet is complete")
	c.Unlock()
	_, err = c.Write([]byte("y"))
	assert.Error(t, err, "the failure sticks")
	_, err = c.Read(make([]byte, 1))
	assert.Error(t, err, "readers see the connection closed")
}

func TestReadsAreBuffered(t *testing.T) {
	client, server := net.Pipe()
	c := New(client)
	go func() { _, _ = server.Write([]byte("abc")) }()
	b := make([]byte, 1)
	for _, want := range "abc" {
		_, err := io.ReadFull(c, b)
		require.NoError(t, err)
		assert.Equal(t, byte(want), b[0])
	}
}
