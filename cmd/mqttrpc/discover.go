package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mqttrpc/mqttrpc"
)

// discoverHelp describes the flags the discovery commands share, with the
// line on --json of all but docs.
const discoverHelp = discoverFlagsHelp + `      --json                print the replies as a JSON array, as the services sent them
` + discoverTail

// discoverFlagsHelp describes the flags of every discovery command but --json.
const discoverFlagsHelp = `
Flags:
      --timeout D           how long to collect replies (default 1s)
      --prefix P            discovery topic prefix (default mqttrpc/srv), as the
                            services' WithDiscoveryPrefix sets it
`

// discoverTail ends the help of every discovery command.
const discoverTail = connHelp + `
On MQTT 3.1.1, which has no Response Topic, the request's body names the
reply topic, and services of this library answer there.

Exit codes: 0 at least one instance answered, 2 usage, 3 no instance answered
within --timeout, 5 connection failed or refused, 6 other failure, 130 interrupted.
`

const lsHelp = `Usage: mqttrpc ls [NAME] [FLAGS]

Lists the service instances that answer discovery, or those of service NAME:
one line each, sorted, with name, version, instance id and description ("-"
when there is none).
` + discoverHelp

const pingHelp = `Usage: mqttrpc ping [NAME [ID]] [FLAGS]

Pings every service instance, those of service NAME, or the one instance ID of
NAME, and prints each one's name, version, id and round-trip time.
` + discoverHelp

const infoHelp = `Usage: mqttrpc info NAME [ID] [FLAGS]

Prints what the instances of service NAME (or the one instance ID) serve:
identity, description and metadata, and per endpoint its name, pattern, QoS,
shared subscription group, reply topic (for requests that name none),
request and response schema and content type, and metadata. Instances that
serve the same are printed once, with the ids of all of them.
` + discoverHelp

const statsHelp = `Usage: mqttrpc stats NAME [ID] [FLAGS]

Prints the statistics of each instance of service NAME (or the one instance
ID): per endpoint, the requests served, the errors, the requests refused
(overloaded, shutting down, or expired while queued; not among the requests),
the average processing time and the last error, then the instance's total;
with several instances, the total of all of them last.
` + discoverHelp

// discoverFlags are the flags of ls, ping, info and stats.
type discoverFlags struct {
	conn    connFlags
	timeout time.Duration
	prefix  string
	json    bool
	out     string // docs --out: a directory for one file per service
}

// parse parses the command line of the discovery command cmd into f, checks
// it, and returns the service name and instance id it names, if any. It
// takes at least min and at most max positional arguments, which want
// describes.
func (f *discoverFlags) parse(cmd, help string, min, max int, want string, args []string, s streams) (name, id string, err error) {
	fs := newFlagSet(cmd)
	f.conn.register(fs)
	fs.DurationVar(&f.timeout, "timeout", time.Second, "")
	stringFlags(fs, &f.prefix, mqttrpc.DefaultDiscoveryPrefix, "prefix")
	boolFlags(fs, &f.json, "json")
	if cmd == "docs" {
		fs.StringVar(&f.out, "out", "", "")
	}
	pos, err := parseArgs(fs, args, help, s.stdout)
	if err != nil {
		return "", "", err
	}
	if len(pos) < min || len(pos) > max {
		return "", "", usagef("want %s, got %d arguments", want, len(pos))
	}
	if len(pos) > 0 {
		name = pos[0]
	}
	if len(pos) > 1 {
		id = pos[1]
	}
	if f.timeout <= 0 {
		return "", "", usagef("--timeout %v: want a positive duration", f.timeout)
	}
	if _, err := f.conn.protocol(); err != nil {
		return "", "", err
	}
	if err := checkPrefix(f.prefix); err != nil {
		return "", "", err
	}
	if _, err := mqttrpc.DiscoveryTopic(f.prefix, mqttrpc.VerbPing, name, id); err != nil {
		return "", "", usageError{err.Error()}
	}
	return name, id, nil
}

// checkPrefix checks a discovery prefix of --prefix.
func checkPrefix(prefix string) error {
	if prefix == "" || strings.ContainsAny(prefix, "+#") || strings.HasPrefix(prefix, "$") {
		return usagef("--prefix %q: want a topic without wildcards that does not start with '$'", prefix)
	}
	return nil
}

// connect connects to the broker with the discovery prefix of --prefix.
func (f *discoverFlags) connect(ctx context.Context, s streams) (*mqttrpc.Broker, error) {
	return f.conn.connect(ctx, mqttrpc.WithDiscoveryPrefix(f.prefix))
}

// noReplies is the outcome of a discovery that nobody answered: it exits
// as a timeout does.
type noReplies struct {
	what    string
	timeout time.Duration
}

func (e noReplies) Error() string {
	return fmt.Sprintf("no %s answered within %v", e.what, e.timeout)
}

func (e noReplies) Is(target error) bool { return target == mqttrpc.ErrTimeout }

// reply is one instance's discovery reply and how long after the request it
// came.
type reply[T any] struct {
	v   *T
	rtt time.Duration
}

// discover asks the instances that name and id select for T, and returns
// their replies. A reply that is an error or does not decode is reported on
// stderr and skipped. With no reply, it returns the error that ended the
// request if there was one, and else a noReplies. When replies were
// dropped (more came than the Broker could hold), it returns those that
// came and, beside them, the error, already reported: the list is
// incomplete, and the command must not exit 0 as if it were whole.
func discover[T mqttrpc.ServicePing | mqttrpc.ServiceInfo | mqttrpc.ServiceStats](ctx context.Context, cmd string, f *discoverFlags, name, id string, s streams) ([]reply[T], error) {
	b, err := f.connect(ctx, s)
	if err != nil {
		return nil, err
	}
	defer closeBroker(b)
	return discoverOn[T](ctx, b, cmd, f, name, id, s)
}

// discoverOn is discover on a Broker already connected.
func discoverOn[T mqttrpc.ServicePing | mqttrpc.ServiceInfo | mqttrpc.ServiceStats](ctx context.Context, b *mqttrpc.Broker, cmd string, f *discoverFlags, name, id string, s streams) ([]reply[T], error) {
	var (
		replies []reply[T]
		errs    []error
	)
	start := time.Now()
	for v, err := range mqttrpc.Discover[T](ctx, b, name, id, mqttrpc.Timeout(f.timeout)) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		replies = append(replies, reply[T]{v, time.Since(start)})
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(replies) == 0 {
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		return nil, noReplies{describe(name, id), f.timeout}
	}
	for _, err := range errs {
		writeError(s.stderr, cmd, err)
	}
	return replies, nil
}

// describe says which instances a discovery asked, for messages.
func describe(name, id string) string {
	switch {
	case id != "":
		return fmt.Sprintf("instance %s of service %s", id, name)
	case name != "":
		return "instance of service " + name
	}
	return "service"
}

// identityOf returns the identity of a discovery reply.
func identityOf[T mqttrpc.ServicePing | mqttrpc.ServiceInfo | mqttrpc.ServiceStats](v *T) mqttrpc.ServiceIdentity {
	switch r := any(v).(type) {
	case *mqttrpc.ServicePing:
		return r.ServiceIdentity
	case *mqttrpc.ServiceInfo:
		return r.ServiceIdentity
	case *mqttrpc.ServiceStats:
		return r.ServiceIdentity
	}
	panic("unreachable")
}

// sortReplies sorts replies by service name, then version, then instance id.
func sortReplies[T mqttrpc.ServicePing | mqttrpc.ServiceInfo | mqttrpc.ServiceStats](rs []reply[T]) {
	slices.SortStableFunc(rs, func(a, b reply[T]) int {
		x, y := identityOf(a.v), identityOf(b.v)
		if c := strings.Compare(x.Name, y.Name); c != 0 {
			return c
		}
		if c := strings.Compare(x.Version, y.Version); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// values returns the replies' values, in order, for --json.
func values[T any](rs []reply[T]) []*T {
	vs := make([]*T, len(rs))
	for i, r := range rs {
		vs[i] = r.v
	}
	return vs
}

// discovery is a discovery command: what it asks for (T), how many
// positional arguments it takes, and how it prints the replies.
type discovery[T mqttrpc.ServicePing | mqttrpc.ServiceInfo | mqttrpc.ServiceStats] struct {
	name     string
	help     string
	min, max int    // positional arguments: NAME, then ID
	want     string // the positional arguments, for a usage error
	// text prints the replies, sorted, for people.
	text func(w io.Writer, f *discoverFlags, rs []reply[T]) error
	// json returns what --json prints; nil prints the replies themselves.
	json func(f *discoverFlags, rs []reply[T]) (any, error)
}

// run runs the command with the command line args.
func (c discovery[T]) run(ctx context.Context, args []string, s streams) error {
	var f discoverFlags
	name, id, err := f.parse(c.name, c.help, c.min, c.max, c.want, args, s)
	if err != nil {
		return err
	}
	rs, incomplete := discover[T](ctx, c.name, &f, name, id, s)
	if rs == nil {
		return incomplete
	}
	if err := c.write(s.stdout, &f, rs); err != nil {
		return err
	}
	return incomplete
}

// write prints the replies rs, sorted, as the flags ask.
func (c discovery[T]) write(w io.Writer, f *discoverFlags, rs []reply[T]) error {
	sortReplies(rs)
	switch {
	case !f.json:
		return c.text(w, f, rs)
	case c.json == nil:
		return writeJSON(w, values(rs))
	}
	v, err := c.json(f, rs)
	if err != nil {
		return err
	}
	return writeJSON(w, v)
}

var (
	lsCommand = discovery[mqttrpc.ServiceInfo]{
		name: "ls", help: lsHelp, max: 1, want: "at most a service NAME", text: writeLs,
	}
	pingCommand = discovery[mqttrpc.ServicePing]{
		name: "ping", help: pingHelp, max: 2, want: "at most a service NAME and an instance ID", text: writePing, json: pingJSON,
	}
	infoCommand = discovery[mqttrpc.ServiceInfo]{
		name: "info", help: infoHelp, min: 1, max: 2, want: "a service NAME and at most an instance ID", text: writeInfo,
	}
	statsCommand = discovery[mqttrpc.ServiceStats]{
		name: "stats", help: statsHelp, min: 1, max: 2, want: "a service NAME and at most an instance ID", text: writeStats,
	}
)

// writeLs prints one line per instance.
func writeLs(w io.Writer, _ *discoverFlags, rs []reply[mqttrpc.ServiceInfo]) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.v.Name, r.v.Version, r.v.ID, dash(oneLine(r.v.Description)))
	}
	return tw.Flush()
}

// pingReply is a ping reply as ping --json prints it.
type pingReply struct {
	mqttrpc.ServiceIdentity
	RTT time.Duration `json:"rtt"` // nanoseconds
}

func pingJSON(_ *discoverFlags, rs []reply[mqttrpc.ServicePing]) (any, error) {
	out := make([]pingReply, len(rs))
	for i, r := range rs {
		out[i] = pingReply{r.v.ServiceIdentity, r.rtt}
	}
	return out, nil
}

// writePing prints one line per instance, with its round trip.
func writePing(w io.Writer, _ *discoverFlags, rs []reply[mqttrpc.ServicePing]) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", r.v.Name, r.v.Version, r.v.ID, r.rtt.Round(time.Microsecond))
	}
	return tw.Flush()
}

// writeInfo prints the instances, those that serve the same once, each
// with a table of its endpoints.
func writeInfo(w io.Writer, _ *discoverFlags, rs []reply[mqttrpc.ServiceInfo]) error {
	for i, g := range groupInfos(rs) {
		if i > 0 {
			fmt.Fprintln(w)
		}
		info := g[0]
		if len(g) == 1 {
			writeIdentity(w, info.ServiceIdentity)
		} else {
			ids := make([]string, len(g))
			for j, in := range g {
				ids[j] = in.ID
			}
			fmt.Fprintf(w, "%s %s, %d instances: %s\n", info.Name, info.Version, len(g), strings.Join(ids, " "))
			if len(info.Metadata) > 0 {
				fmt.Fprintf(w, "  metadata: %s\n", metadata(info.Metadata))
			}
		}
		if info.Description != "" {
			fmt.Fprintf(w, "  description: %s\n", oneLine(info.Description))
		}
		fmt.Fprintf(w, "  endpoints: %d\n", len(info.Endpoints))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "    NAME\tPATTERN\tQOS\tSHARED\tREPLY TOPIC\tREQUEST\tRESPONSE\tMETADATA")
		for _, e := range info.Endpoints {
			replyTopic := dash(e.ReplyTopic)
			if e.NoReply {
				replyTopic = "(no reply)"
			}
			fmt.Fprintf(tw, "    %s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Pattern, e.QoS, dash(e.Shared), replyTopic,
				payload(e.RequestSchema, e.RequestContentType), payload(e.ResponseSchema, e.ResponseContentType), dash(metadata(e.Metadata)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// groupInfos groups the instances that serve the same: all but their ids
// alike. The groups and the instances in each keep the order of rs.
func groupInfos(rs []reply[mqttrpc.ServiceInfo]) [][]*mqttrpc.ServiceInfo {
	var (
		groups [][]*mqttrpc.ServiceInfo
		index  = map[string]int{}
	)
	for _, r := range rs {
		anon := *r.v
		anon.ID = ""
		key, err := json.Marshal(anon) // maps marshal sorted by key
		if err != nil {
			key = []byte(r.v.ID) // a group of its own
		}
		if i, ok := index[string(key)]; ok {
			groups[i] = append(groups[i], r.v)
			continue
		}
		index[string(key)] = len(groups)
		groups = append(groups, []*mqttrpc.ServiceInfo{r.v})
	}
	return groups
}

// payload describes a request or response: its schema and content type,
// either of which may be unknown.
func payload(schema, contentType string) string {
	switch {
	case schema != "" && contentType != "":
		return schema + " (" + contentType + ")"
	case schema != "":
		return schema
	}
	return dash(contentType)
}

// statsTotal adds up the statistics of endpoints.
type statsTotal struct {
	requests, errors, refused uint64
	processing                time.Duration
}

func (t *statsTotal) add(e mqttrpc.EndpointStats) {
	t.requests += e.Requests
	t.errors += e.Errors
	t.refused += e.Refused
	t.processing += e.ProcessingTime
}

// average is the average processing time of the requests counted.
func (t statsTotal) average() time.Duration {
	if t.requests == 0 {
		return 0
	}
	return t.processing / time.Duration(t.requests)
}

// writeStats prints each instance and a table of its endpoints'
// statistics with a row for their total, then, for several instances, the
// total of all.
func writeStats(w io.Writer, _ *discoverFlags, rs []reply[mqttrpc.ServiceStats]) error {
	var all statsTotal
	for i, r := range rs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		writeIdentity(w, r.v.ServiceIdentity)
		fmt.Fprintf(w, "  started: %s\n", r.v.Started.Format(time.RFC3339))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "    ENDPOINT\tPATTERN\tREQUESTS\tERRORS\tREFUSED\tAVERAGE\tLAST ERROR")
		var total statsTotal
		for _, e := range r.v.Endpoints {
			total.add(e)
			fmt.Fprintf(tw, "    %s\t%s\t%d\t%d\t%d\t%v\t%s\n", e.Name, e.Pattern, e.Requests, e.Errors, e.Refused,
				e.AverageProcessingTime.Round(time.Microsecond), dash(oneLine(e.LastError)))
		}
		fmt.Fprintf(tw, "    total\t\t%d\t%d\t%d\t%v\n", total.requests, total.errors, total.refused, total.average().Round(time.Microsecond))
		if err := tw.Flush(); err != nil {
			return err
		}
		all.requests, all.errors, all.refused = all.requests+total.requests, all.errors+total.errors, all.refused+total.refused
		all.processing += total.processing
	}
	if len(rs) > 1 {
		_, err := fmt.Fprintf(w, "\nall %d instances: %d requests, %d errors, %d refused, average %v\n",
			len(rs), all.requests, all.errors, all.refused, all.average().Round(time.Microsecond))
		return err
	}
	return nil
}

// writeIdentity writes the line that heads an instance in info and stats.
func writeIdentity(w io.Writer, id mqttrpc.ServiceIdentity) {
	fmt.Fprintf(w, "%s %s, instance %s\n", id.Name, id.Version, id.ID)
	if len(id.Metadata) > 0 {
		fmt.Fprintf(w, "  metadata: %s\n", metadata(id.Metadata))
	}
}

// metadata formats m as key=value pairs sorted by key.
func metadata(m map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%s", k, m[k])
	}
	return oneLine(b.String())
}

// oneLine replaces line breaks and tabs, which would break a table, with spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
}

// dash returns s, or "-" for an empty s, so that a table has no empty cells.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
