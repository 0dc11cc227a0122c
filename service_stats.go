package mqttrpc

import (
	"encoding/json"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// endpoint is one handler of a [Service], with its statistics.
type endpoint struct {
	service string // the Service name
	name    string

	// Guarded by Service.mu; sub is nil while subscribing.
	sub            *Subscription
	metadata       map[string]string
	requestSchema  string
	responseSchema string
	requestType    reflect.Type // a Typed handler's, for EndpointInfo.Types
	responseType   reflect.Type
	requestJSON    json.RawMessage // the JSON Schemas discovery's SCHEMA answers
	responseJSON   json.RawMessage

	requests   atomic.Uint64
	errors     atomic.Uint64
	refused    atomic.Uint64
	processing atomic.Int64 // nanoseconds, summed over requests

	mu        sync.Mutex // guards what follows
	lastError string
	started   time.Time // when added, or last reset
}

// endpointObserver is the one seam between serving and services: a
// subscription made by [Service.Endpoint] tells its endpoint what becomes
// of each request, and names it for the served hook.
type endpointObserver interface {
	countRefused()                                   // refused before its handler ran: 503, or expired while queued
	record(d time.Duration, err error, details bool) // served, in d, with err
	names() (service, endpoint string)
}

// endpointAbout is what a subscription carries for discovery's INFO: set by
// EndpointMetadata and EndpointSchema, read back by Service.Endpoint.
type endpointAbout struct {
	metadata                      map[string]string
	requestSchema, responseSchema string
	requestJSON, responseJSON     json.RawMessage // EndpointSchemaJSON
}

func (a endpointAbout) isZero() bool {
	return a.metadata == nil && a.requestSchema == "" && a.responseSchema == "" && a.requestJSON == nil && a.responseJSON == nil
}

// countRefused counts one request refused before its handler ran.
func (e *endpoint) countRefused() { e.refused.Add(1) }

func (e *endpoint) names() (service, endpoint string) { return e.service, e.name }

// reset starts the statistics afresh. A request recorded while it runs may
// be counted in part.
func (e *endpoint) reset() {
	e.requests.Store(0)
	e.errors.Store(0)
	e.refused.Store(0)
	e.processing.Store(0)
	e.mu.Lock()
	e.lastError, e.started = "", time.Now().UTC()
	e.mu.Unlock()
}

// record counts one request that took d and returned err. An error is kept
// as its caller sees it: the status and message of the error reply.
func (e *endpoint) record(d time.Duration, err error, details bool) {
	e.requests.Add(1)
	e.processing.Add(int64(d))
	if err == nil {
		return
	}
	e.errors.Add(1)
	re := remoteErrorFrom(err, details)
	e.mu.Lock()
	e.lastError = strconv.Itoa(re.Code) + " " + re.Message
	e.mu.Unlock()
}

// stats returns the endpoint's statistics.
func (e *endpoint) stats(pattern string) EndpointStats {
	st := EndpointStats{
		Name:           e.name,
		Pattern:        pattern,
		Requests:       e.requests.Load(),
		Errors:         e.errors.Load(),
		Refused:        e.refused.Load(),
		ProcessingTime: time.Duration(e.processing.Load()),
	}
	if st.Requests > 0 {
		st.AverageProcessingTime = st.ProcessingTime / time.Duration(st.Requests)
	}
	e.mu.Lock()
	st.LastError, st.Started = e.lastError, e.started
	e.mu.Unlock()
	return st
}
