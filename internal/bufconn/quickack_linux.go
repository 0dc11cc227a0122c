package bufconn

import (
	"net"
	"syscall"
	"time"
	"unsafe"
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

// rtt returns the kernel's smoothed round-trip time of the connection, or 0
// if it cannot be read.
func (q *quickAcker) rtt() time.Duration {
	var info syscall.TCPInfo
	size := uint32(unsafe.Sizeof(info))
	var errno syscall.Errno
	err := q.rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0)
	})
	if err != nil || errno != 0 {
		return 0
	}
	return time.Duration(info.Rtt) * time.Microsecond
}
