package bufconn

import (
	"net"
	"syscall"
)

// QuickAck reports whether a Conn acknowledges what it reads at once. It
// does on Linux, with TCP_QUICKACK; see [New].
const QuickAck = true

// quickAcker asks the kernel to acknowledge at once what has arrived on a
// TCP socket. Linux leaves quick-ack mode by itself, whenever it sees the
// connection as interactive, so a Conn asks again after each read.
type quickAcker struct {
	rc syscall.RawConn
	fn func(fd uintptr) // made once, so that ack allocates nothing
}

// newQuickAcker finds the TCP socket under c, through TLS and WebSocket
// (whatever has a NetConn method), and returns nil if there is none.
func newQuickAcker(c net.Conn) *quickAcker {
	for {
		if _, ok := c.(*net.TCPConn); ok {
			break
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = u.NetConn()
	}
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return nil
	}
	return &quickAcker{rc: rc, fn: func(fd uintptr) {
		// An error is a closed socket, which the next read reports.
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	}}
}

// ack sends the acknowledgement of what has been read, if the kernel was
// holding it back, and acknowledges what comes next at once too, until the
// kernel sees the connection as interactive again.
func (q *quickAcker) ack() { _ = q.rc.Control(q.fn) }
