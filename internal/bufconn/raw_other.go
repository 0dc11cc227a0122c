//go:build !unix

package bufconn

import "net"

// rawWriter is unix only; elsewhere writers bound their writes by a deadline.
type rawWriter struct{}

func newRawWriter(net.Conn) *rawWriter { return nil }

func (*rawWriter) writeNow([]byte) (int, error) { panic("unreachable") }
