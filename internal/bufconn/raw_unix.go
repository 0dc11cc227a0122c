//go:build unix

package bufconn

import (
	"net"
	"syscall"
)

// rawWriter gives c's socket to writeNow, if c has one.
type rawWriter struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool // made once, so a write allocates nothing
	buf []byte
	n   int
	err error
}

func newRawWriter(c net.Conn) *rawWriter {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &rawWriter{rc: rc}
	w.fn = func(fd uintptr) bool {
		w.n, w.err = syscall.Write(int(fd), w.buf)
		return true // never wait for the socket to be writable
	}
	return w
}

// writeNow writes as much of p as the socket takes at once, without
// waiting: a full socket is n == 0 and no error. Only the owner of the
// socket's write side calls it.
func (w *rawWriter) writeNow(p []byte) (int, error) {
	w.buf = p
	err := w.rc.Write(w.fn)
	n, werr := w.n, w.err
	w.buf, w.err = nil, nil
	switch {
	case err != nil:
		return 0, err
	case werr == syscall.EAGAIN, werr == syscall.EINTR:
		return 0, nil
	case werr != nil:
		return 0, &net.OpError{Op: "write", Net: "tcp", Err: werr}
	}
	return n, nil
}
