package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"time"

	"github.com/mqttrpc/mqttrpc"
)

// execStream serves a streaming call by running a shell command, as
// execHandler does, and sending each line it prints as one response.
type execStream struct {
	*execHandler
	killAfter time.Duration // between SIGTERM and SIGKILL
	log       *slog.Logger
}

// serve runs the command for request m and streams its output, a line a
// response, without the line's end. The command's exit ends the stream:
// a zero status well, any other with an error status (500) carrying its
// stderr. When the caller cancels (or the request's deadline passes, or a
// response cannot be sent) the command's process group gets SIGTERM, and
// SIGKILL if it has not exited within killAfter.
func (h *execStream) serve(ctx context.Context, m *mqttrpc.Message, s *mqttrpc.Sender) error {
	cmd := exec.Command("sh", "-c", h.cmd)
	cmd.Stdin = bytes.NewReader(m.Body)
	cmd.Env = append(os.Environ(), h.env(m)...)
	stderr := &headBuffer{max: maxStderr}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return mqttrpc.Errorf(mqttrpc.StatusInternalError, "command: %v", err)
	}
	ownGroup(cmd)
	if err := cmd.Start(); err != nil {
		return mqttrpc.Errorf(mqttrpc.StatusInternalError, "command: %v", err)
	}

	stop := make(chan struct{}) // closed when a response cannot be sent
	exited := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		h.stopWhenDone(ctx, m, cmd, stop, exited)
	}()
	defer func() { <-stopped }()

	var failed error // what ended the stream before the command did
	r := bufio.NewReader(stdout)
	for n := 0; ; n++ {
		line, readErr := r.ReadBytes('\n')
		if len(line) > 0 && failed == nil {
			if failed = h.send(s, line, n); failed != nil {
				close(stop)
			}
		}
		if readErr != nil { // io.EOF: the command and its children closed stdout
			break
		}
	}
	waitErr := cmd.Wait()
	close(exited)
	switch {
	case ctx.Err() != nil:
		return ctx.Err() // the Broker answers 499 for a cancel, 408 past the deadline
	case failed != nil:
		return failed
	case waitErr != nil:
		return mqttrpc.Errorf(mqttrpc.StatusInternalError, "%s", failure(waitErr, stderr))
	}
	return nil
}

// send sends line n of the command's output, without its line end.
func (h *execStream) send(s *mqttrpc.Sender, line []byte, n int) error {
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	body, err := typedBody(line, h.bodyType)
	if err != nil {
		return mqttrpc.Errorf(mqttrpc.StatusInternalError, "command output, line %d: %v", n+1, err)
	}
	return s.Send(body)
}

// stopWhenDone stops cmd when ctx ends or stop closes, unless it exits
// first: SIGTERM to its process group, then SIGKILL after killAfter.
func (h *execStream) stopWhenDone(ctx context.Context, m *mqttrpc.Message, cmd *exec.Cmd, stop, exited <-chan struct{}) {
	why := "a response could not be sent"
	select {
	case <-exited:
		return
	case <-stop:
	case <-ctx.Done():
		why = context.Cause(ctx).Error()
		if errors.Is(context.Cause(ctx), mqttrpc.ErrCallerCanceled) {
			why = "the caller cancelled"
		}
	}
	h.log.Info("mqttrpc serve: stopping the command with SIGTERM", "topic", m.Topic, "why", why)
	if err := signalGroup(cmd, false); err != nil {
		h.log.Debug("mqttrpc serve: SIGTERM", "err", err)
	}
	timer := time.NewTimer(h.killAfter)
	defer timer.Stop()
	select {
	case <-exited:
		return
	case <-timer.C:
	}
	h.log.Warn("mqttrpc serve: the command did not exit within --kill-after of SIGTERM: killing it", "topic", m.Topic, "kill-after", h.killAfter)
	if err := signalGroup(cmd, true); err != nil {
		h.log.Debug("mqttrpc serve: SIGKILL", "err", err)
	}
}
