package mqttrpc

import "sync/atomic"

// maxIdleHandlers bounds the handler goroutines kept waiting for a request.
const maxIdleHandlers = 4

// handlerPool runs accepted requests on goroutines that serve one request
// after another. A goroutine starts with a small stack, and serving a
// request (the middleware chain, the handler, the reply's publish) grows
// it: a new goroutine per request paid a stack copy for nearly every
// request. An idle one keeps the stack it grew and takes the next request
// at once. Beyond maxIdleHandlers idle ones, a goroutine ends when its
// request is served, so a burst leaves no crowd behind.
type handlerPool struct {
	work chan handlerJob // unbuffered: only an idle goroutine takes from it
	idle atomic.Int32    // goroutines waiting on work, or about to
	stop chan struct{}   // closed by Close: idle goroutines end
}

type handlerJob struct {
	s *Subscription
	m *Message
}

func (p *handlerPool) init() {
	p.work = make(chan handlerJob)
	p.stop = make(chan struct{})
}

// run serves m on an idle goroutine, or on a new one if none is idle.
func (p *handlerPool) run(s *Subscription, m *Message) {
	select {
	case p.work <- handlerJob{s, m}:
	default:
		go p.serve(s, m) // ends when idle ones abound, or once Close stops the pool
	}
}

// serve serves m, then waits for more while few others wait.
func (p *handlerPool) serve(s *Subscription, m *Message) {
	for {
		s.serve(m)
		if p.idle.Add(1) > maxIdleHandlers {
			p.idle.Add(-1)
			return
		}
		select {
		case j := <-p.work:
			s, m = j.s, j.m
			p.idle.Add(-1)
		case <-p.stop:
			p.idle.Add(-1)
			return
		}
	}
}

// close ends the idle goroutines; busy ones end once their request is served.
func (p *handlerPool) close() { close(p.stop) }
