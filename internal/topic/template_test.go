package topic

import "testing"

func TestTemplate(t *testing.T) {
	p, err := ParsePattern("$share/g/svc/{dev}/request/{token}")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tmpl, filter, topic, want string
	}{
		{"svc/response/{token}", "svc/response/+", "svc/7/request/abc", "svc/response/abc"},
		{"svc/{dev}/response/{token}", "svc/+/response/+", "svc/7/request/abc", "svc/7/response/abc"},
		{"plain/reply", "plain/reply", "svc/7/request/abc", "plain/reply"},
	} {
		tmpl, err := ParseTemplate(tc.tmpl, p)
		if err != nil {
			t.Fatalf("%q: %v", tc.tmpl, err)
		}
		if got := tmpl.Filter(); got != tc.filter {
			t.Errorf("%q: filter %q, want %q", tc.tmpl, got, tc.filter)
		}
		if got := tmpl.Expand(p, tc.topic); got != tc.want {
			t.Errorf("%q: expand %q, want %q", tc.tmpl, got, tc.want)
		}
	}
	rest, _ := ParsePattern("logs/{path...}")
	tmpl, err := ParseTemplate("archive/{path...}", rest)
	if err != nil {
		t.Fatal(err)
	}
	if got := tmpl.Expand(rest, "logs/a/b/c"); got != "archive/a/b/c" {
		t.Errorf("rest: %q", got)
	}
	if got := tmpl.Filter(); got != "archive/#" {
		t.Errorf("rest filter: %q", got)
	}
	for _, bad := range []string{"r/{other}", "r/{token", "r//x", "r/+", "r/{token...}/x", ""} {
		if _, err := ParseTemplate(bad, p); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
