package subscription

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/event"
	"github.com/hookstream/hookstream/payload"
)

func valid(mod func(*Subscription)) Subscription {
	s := Subscription{
		ID: "sub_1", Name: "n", URL: "https://example.com/hook", Enabled: true,
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", MaxAttempts: 5, Timeout: Duration(10 * time.Second),
	}
	if mod != nil {
		mod(&s)
	}
	return s
}

func mustEvent(t testing.TB, js string) *event.Event {
	t.Helper()
	d, err := event.NewDecoder(event.Locations{
		Type: []string{"type"}, Level: []string{"level"}, Source: []string{"source"},
		Timestamp: []string{"timestamp"}, Message: []string{"message"},
	}, 1<<20, 64)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := d.Decode([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestCompileRejects(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*Subscription)
		field string
	}{
		{"no name", func(s *Subscription) { s.Name = " " }, "name"},
		{"no url", func(s *Subscription) { s.URL = "" }, "url"},
		{"ftp url", func(s *Subscription) { s.URL = "ftp://x/y" }, "url"},
		{"relative url", func(s *Subscription) { s.URL = "/hook" }, "url"},
		{"url with credentials", func(s *Subscription) { s.URL = "https://u:p@x/" }, "url"},
		{"secret without prefix", func(s *Subscription) { s.Secret = "abc" }, "secret"},
		{"secret not base64", func(s *Subscription) { s.Secret = "whsec_!!!" }, "secret"},
		{"secret too short", func(s *Subscription) { s.Secret = "whsec_c2hvcnQ=" }, "secret"},
		{"reserved header", func(s *Subscription) { s.Headers = map[string]string{"Webhook-Signature": "x"} }, "headers.Webhook-Signature"},
		{"bad header name", func(s *Subscription) { s.Headers = map[string]string{"a b": "x"} }, "headers.a b"},
		{"header injection", func(s *Subscription) { s.Headers = map[string]string{"X-A": "a\r\nB: c"} }, "headers.X-A"},
		{"attempts zero", func(s *Subscription) { s.MaxAttempts = 0 }, "max_attempts"},
		{"timeout tiny", func(s *Subscription) { s.Timeout = Duration(time.Millisecond) }, "timeout"},
		{"zero rate", func(s *Subscription) { s.RateLimit = &RateLimit{PerSecond: 0, Burst: 1} }, "rate_limit.per_second"},
		{"negative rate", func(s *Subscription) { s.RateLimit = &RateLimit{PerSecond: -5, Burst: 1} }, "rate_limit.per_second"},
		{"burst below 1", func(s *Subscription) { s.RateLimit = &RateLimit{PerSecond: 10, Burst: 0} }, "rate_limit.burst"},
		{"empty type", func(s *Subscription) { s.Filter.Types = []string{""} }, "filter.types[0]"},
		{"bad glob", func(s *Subscription) { s.Filter.Sources = []string{""} }, "filter.sources[0]"},
		{"bad path", func(s *Subscription) { s.Filter.Where = []Predicate{{Path: "a..b", Op: OpEq, Value: "x"}} }, "filter.where[0].path"},
		{"unknown op", func(s *Subscription) { s.Filter.Where = []Predicate{{Path: "a", Op: "like", Value: "x"}} }, "filter.where[0].op"},
		{"missing op", func(s *Subscription) { s.Filter.Where = []Predicate{{Path: "a", Value: "x"}} }, "filter.where[0].op"},
		{"bad regex", func(s *Subscription) { s.Filter.Where = []Predicate{{Path: "a", Op: OpRegex, Value: "(["}} }, "filter.where[0].value"},
		{"regex not string", func(s *Subscription) { s.Filter.Where = []Predicate{{Path: "a", Op: OpRegex, Value: 1.0}} }, "filter.where[0].value"},
		{"in not list", func(s *Subscription) { s.Filter.Where = []Predicate{{Path: "a", Op: OpIn, Value: "x"}} }, "filter.where[0].value"},
		{"in empty", func(s *Subscription) { s.Filter.Where = []Predicate{{Path: "a", Op: OpIn, Value: []any{}}} }, "filter.where[0].value"},
		{"eq object", func(s *Subscription) { s.Filter.Where = []Predicate{{Path: "a", Op: OpEq, Value: map[string]any{}}} }, "filter.where[0].value"},
		{"gt bool", func(s *Subscription) { s.Filter.Where = []Predicate{{Path: "a", Op: OpGt, Value: true}} }, "filter.where[0].value"},
		{"exists string", func(s *Subscription) { s.Filter.Where = []Predicate{{Path: "a", Op: OpExists, Value: "yes"}} }, "filter.where[0].value"},
		{"header bell", func(s *Subscription) { s.Headers = map[string]string{"X-A": "a\u0007b"} }, "headers.X-A"},
		{"header DEL", func(s *Subscription) { s.Headers = map[string]string{"X-A": "a\x7fb"} }, "headers.X-A"},
		{"costly regex", func(s *Subscription) {
			s.Filter.Where = []Predicate{{Path: "message", Op: OpRegex, Value: ".{0,1000}z$"}}
		}, "filter.where[0].value"},
		{"long regex", func(s *Subscription) {
			s.Filter.Where = []Predicate{{Path: "message", Op: OpRegex, Value: strings.Repeat("a", MaxPatternBytes+1)}}
		}, "filter.where[0].value"},
		{"costly regexes together", func(s *Subscription) {
			for range 3 {
				s.Filter.Where = append(s.Filter.Where, Predicate{Path: "message", Op: OpRegex, Value: ".{0,120}z"})
			}
		}, "filter.where[2].value"},
		{"costly glob", func(s *Subscription) { s.Filter.Sources = []string{strings.Repeat("?", 600)} }, "filter.sources[0]"},
		{"too many predicates", func(s *Subscription) {
			for range MaxPredicates + 1 {
				s.Filter.Where = append(s.Filter.Where, Predicate{Path: "a", Op: OpExists})
			}
		}, "filter.where"},
		{"too many types", func(s *Subscription) {
			for i := range MaxFilterValues + 1 {
				s.Filter.Types = append(s.Filter.Types, fmt.Sprint("t", i))
			}
		}, "filter.types"},
		{"large in", func(s *Subscription) {
			s.Filter.Where = []Predicate{{Path: "a", Op: OpIn, Value: make([]any, MaxSetValues+1)}}
		}, "filter.where[0].value"},
		{"payload option of another format", func(s *Subscription) {
			s.Payload = payload.Spec{Format: payload.Slack, RoutingKey: "k"}
		}, "payload.routing_key"},
		{"payload template does not parse", func(s *Subscription) { s.Payload = payload.Spec{Format: payload.Slack, Title: "{{ .x"} }, "payload.title"},
		{"resolve_when empty", func(s *Subscription) {
			s.Payload = payload.Spec{Format: payload.PagerDuty, RoutingKey: "k", ResolveWhen: &payload.Condition{}}
		}, "payload.resolve_when"},
		{"resolve_when bad op", func(s *Subscription) {
			s.Payload = payload.Spec{Format: payload.PagerDuty, RoutingKey: "k",
				ResolveWhen: &payload.Condition{Where: []payload.Predicate{{Path: "a", Op: "like"}}}}
		}, "payload.resolve_when"},
		{"filter too large", func(s *Subscription) {
			for range 20 {
				s.Filter.Where = append(s.Filter.Where, Predicate{Path: "a", Op: OpEq, Value: strings.Repeat("x", 1000)})
			}
		}, "filter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(valid(tt.mod))
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Compile() error = %v, want a ValidationError", err)
			}
			for _, fe := range verr.Errors {
				if fe.Field == tt.field {
					return
				}
			}
			t.Errorf("errors %v do not name %q", verr.Errors, tt.field)
		})
	}
}

// TestRegexExaminesTheHeadOfAString: a regex sees at most the first
// maxMatch bytes of a field, cut between characters.
func TestRegexExaminesTheHeadOfAString(t *testing.T) {
	long := strings.Repeat("é", 3000) + "z" // 6,001 bytes
	tests := []struct {
		name, regex string
		maxMatch    int
		want        bool
	}{
		{"start within", "^é", DefaultMaxMatchBytes, true},
		{"end beyond", "z$", DefaultMaxMatchBytes, false},
		{"end within a larger limit", "z$", 8 << 10, true},
		{"cut between characters", "^(é)+$", 4097, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Compile(valid(func(s *Subscription) {
				s.Filter.Where = []Predicate{{Path: "message", Op: OpRegex, Value: tt.regex}}
			}))
			if err != nil {
				t.Fatal(err)
			}
			c.maxMatch = tt.maxMatch
			js, _ := json.Marshal(map[string]string{"type": "t", "message": long})
			if got := c.Matches(mustEvent(t, string(js))); got != tt.want {
				t.Errorf("%s on a %d-byte message, examining %d: %v, want %v", tt.regex, len(long), tt.maxMatch, got, tt.want)
			}
		})
	}
}

func TestPredicates(t *testing.T) {
	const ev = `{"type":"t","status":"active","code":"E42","amount":150,"ratio":"0.5","tags":["a","b",3],
		"user":{"name":"Ada Lovelace","vip":true},"nothing":null,"when":"2024-05-01T10:00:00Z"}`
	tests := []struct {
		path  string
		op    Op
		value any
		want  bool
	}{
		{"status", OpEq, "active", true},
		{"status", OpEq, "inactive", false},
		{"amount", OpEq, 150.0, true},
		{"amount", OpEq, "150", false},
		{"user.vip", OpEq, true, true},
		{"nothing", OpEq, nil, true},
		{"missing", OpEq, nil, false},
		{"status", OpNe, "inactive", true},
		{"status", OpNe, "active", false},
		{"missing", OpNe, "x", true},
		{"code", OpIn, []any{"E41", "E42"}, true},
		{"amount", OpIn, []any{1.0, 150.0}, true},
		{"code", OpIn, []any{"E1"}, false},
		{"missing", OpIn, []any{"x"}, false},
		{"code", OpNotIn, []any{"E1", "E2"}, true},
		{"code", OpNotIn, []any{"E42"}, false},
		{"missing", OpNotIn, []any{"x"}, true},
		{"code", OpRegex, `^E\d+$`, true},
		{"user.name", OpRegex, `(?i)^ada`, true},
		{"amount", OpRegex, `150`, false},
		{"user.name", OpContains, "Love", true},
		{"user.name", OpContains, "love", false},
		{"tags", OpContains, "b", true},
		{"tags", OpContains, 3.0, true},
		{"tags", OpContains, "z", false},
		{"amount", OpContains, 1.0, false},
		{"code", OpPrefix, "E4", true},
		{"code", OpPrefix, "X", false},
		{"amount", OpPrefix, "1", false},
		{"amount", OpGt, 100.0, true},
		{"amount", OpGt, 150.0, false},
		{"amount", OpGte, 150.0, true},
		{"amount", OpLt, 200.0, true},
		{"amount", OpLt, 150.0, false},
		{"amount", OpLte, 150.0, true},
		{"ratio", OpLt, 1.0, true},
		{"status", OpGt, 1.0, false},
		{"when", OpGte, "2024-01-01", true},
		{"when", OpLt, "2024-01-01", false},
		{"missing", OpGt, 0.0, false},
		{"tags[1]", OpEq, "b", true},
		{"user.name", OpExists, nil, true},
		{"user.name", OpExists, true, true},
		{"missing", OpExists, nil, false},
		{"missing", OpExists, false, true},
		{"nothing", OpExists, true, true},
	}
	e := mustEvent(t, ev)
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s %v", tt.path, tt.op, tt.value), func(t *testing.T) {
			c, err := Compile(valid(func(s *Subscription) {
				s.Filter.Where = []Predicate{{Path: tt.path, Op: tt.op, Value: tt.value}}
			}))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Matches(e); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	// Every operator is covered above.
	seen := map[Op]bool{}
	for _, tt := range tests {
		seen[tt.op] = true
	}
	for _, op := range Ops {
		if !seen[op] {
			t.Errorf("operator %s has no case", op)
		}
	}
}

func TestFilterParts(t *testing.T) {
	tests := []struct {
		name   string
		filter Filter
		event  string
		want   bool
	}{
		{"empty filter matches all", Filter{}, `{"message":"x"}`, true},
		{"type", Filter{Types: []string{"a", "b"}}, `{"type":"b"}`, true},
		{"type miss", Filter{Types: []string{"a"}}, `{"type":"A"}`, false},
		{"level case-insensitive", Filter{Levels: []string{"ERROR"}}, `{"level":"Error"}`, true},
		{"level absent", Filter{Levels: []string{"error"}}, `{"type":"x"}`, false},
		{"source exact", Filter{Sources: []string{"api"}}, `{"source":"api"}`, true},
		{"source prefix glob", Filter{Sources: []string{"payment-*"}}, `{"source":"payment-api"}`, true},
		{"source suffix glob", Filter{Sources: []string{"*-worker"}}, `{"source":"mail-worker"}`, true},
		{"source middle glob", Filter{Sources: []string{"pay?-*-eu"}}, `{"source":"pays-api-eu"}`, true},
		{"source glob miss", Filter{Sources: []string{"payment-*"}}, `{"source":"billing"}`, false},
		{"glob is anchored", Filter{Sources: []string{"pay*"}}, `{"source":"xpay"}`, false},
		{"glob metachars literal", Filter{Sources: []string{"a.b*"}}, `{"source":"axb"}`, false},
		{"all parts AND", Filter{Types: []string{"t"}, Levels: []string{"error"}, Sources: []string{"s*"},
			Where: []Predicate{{Path: "n", Op: OpGt, Value: 1.0}}}, `{"type":"t","level":"error","source":"svc","n":2}`, true},
		{"one part fails", Filter{Types: []string{"t"}, Levels: []string{"error"},
			Where: []Predicate{{Path: "n", Op: OpGt, Value: 5.0}}}, `{"type":"t","level":"error","n":2}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Compile(valid(func(s *Subscription) { s.Filter = tt.filter }))
			if err != nil {
				t.Fatal(err)
			}
			e := mustEvent(t, tt.event)
			if got := c.Matches(e); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
			set := NewSet([]*Compiled{c})
			if got := len(set.Match(e, nil)) == 1; got != tt.want {
				t.Errorf("Set.Match = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSetMatchesLikeBruteForce checks the index against running every
// filter on every event, over random subscriptions and events.
func TestSetMatchesLikeBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	types := []string{"order.created", "order.paid", "user.signup", "job.failed"}
	levels := []string{"debug", "info", "warn", "error"}
	sources := []string{"payment-api", "payment-worker", "billing", "auth", "mail-worker"}
	pick := func(list []string, max int) []string {
		var out []string
		for _, v := range list {
			if r.IntN(len(list)) < max {
				out = append(out, v)
			}
		}
		return out
	}
	// Values a few subscriptions want each, as a tenant's own source:
	// the index lists their positions rather than keep a bitset.
	var rareTypes, rareSources []string
	for i := range 40 {
		rareTypes, rareSources = append(rareTypes, fmt.Sprintf("rare.%d", i)), append(rareSources, fmt.Sprintf("tenant-%d", i))
	}
	gen := func(i int) *Compiled {
		f := Filter{Types: pick(types, 1), Levels: pick(levels, 2), Sources: pick(sources, 1)}
		if r.IntN(5) == 0 {
			f.Types = append(f.Types, rareTypes[r.IntN(len(rareTypes))])
		}
		if r.IntN(5) == 0 {
			f.Sources = append(f.Sources, rareSources[r.IntN(len(rareSources))])
		}
		if r.IntN(4) == 0 {
			f.Sources = append(f.Sources, []string{"payment-*", "*-worker", "a?th"}[r.IntN(3)])
		}
		if r.IntN(3) == 0 {
			f.Where = []Predicate{{Path: "amount", Op: OpGt, Value: float64(r.IntN(100))}}
		}
		// eq predicates, which the index looks up by value: numbers,
		// strings, booleans, null, on a path events may lack.
		switch r.IntN(6) {
		case 0:
			f.Where = append(f.Where, Predicate{Path: "amount", Op: OpEq, Value: float64(r.IntN(120))})
		case 1:
			f.Where = append(f.Where, Predicate{Path: "meta.region", Op: OpEq, Value: []string{"eu", "us", "1"}[r.IntN(3)]})
		case 2:
			f.Where = append(f.Where, Predicate{Path: "meta.flag", Op: OpEq, Value: []any{true, false, nil, "true"}[r.IntN(4)]},
				Predicate{Path: "amount", Op: OpEq, Value: float64(r.IntN(120))})
		}
		c, err := Compile(valid(func(s *Subscription) {
			s.ID = fmt.Sprintf("sub_%04d", i)
			s.Filter = f
			s.Enabled = r.IntN(10) != 0
		}))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var subs []*Compiled
	for i := range 700 {
		subs = append(subs, gen(i))
	}
	// The same kind of set as built at once, and as built from 600 of
	// them and then changed 200 times: replaced, added, deleted. The
	// second is compacted every 25 changes: into its middle tier, into a
	// new index once that holds an eighth of the set, and again; it ends
	// with changes in every tier.
	changed, tiered := NewSet(subs[:600]), NewSet(subs[:600])
	change := func(i int) {
		if r.IntN(4) == 0 {
			id := fmt.Sprintf("sub_%04d", i)
			changed, tiered = changed.Without(id), tiered.Without(id)
			return
		}
		c := gen(i)
		changed, tiered = changed.With(c), tiered.With(c)
	}
	var midTier, rebuilt bool
	compact := func() {
		base := tiered.base
		tiered = tiered.Compacted()
		midTier = midTier || tiered.mid != nil && tiered.base == base
		rebuilt = rebuilt || tiered.base != base
	}
	for k := range 200 {
		change(r.IntN(800))
		if k%25 == 12 {
			compact()
		}
	}
	if tiered.mid == nil {
		compact()
	}
	// Changes of subscriptions the middle tier holds, and of others.
	inMid := slices.Sorted(maps.Keys(tiered.midDelta))
	for _, id := range inMid[:min(8, len(inMid))] {
		var i int
		if _, err := fmt.Sscanf(id, "sub_%d", &i); err != nil {
			t.Fatal(err)
		}
		change(i)
		change(r.IntN(800))
	}
	if !midTier || !rebuilt || tiered.mid == nil || tiered.Changes() == 0 {
		t.Fatalf("compactions never filled the middle tier (%v) or rebuilt the index (%v), or left a tier empty", midTier, rebuilt)
	}
	for name, set := range map[string]*Set{"changed": changed, "compacted": tiered} {
		all := set.All()
		if n := len(all); set.Len() != n || NewSet(all).Len() != n {
			t.Fatalf("%s set: Len() = %d, All() holds %d", name, set.Len(), n)
		}
		if !slices.IsSortedFunc(all, byID) {
			t.Fatalf("%s set: All() is not sorted by ID", name)
		}
		for _, c := range all {
			if got, ok := set.Get(c.ID); !ok || got != c {
				t.Fatalf("%s set: Get(%s) = %v, %v", name, c.ID, got, ok)
			}
		}
		if !slices.Equal(all, changed.All()) {
			t.Fatalf("%s set holds other subscriptions than the set never compacted", name)
		}
	}
	want := changed.All()
	for i := range 800 {
		id := fmt.Sprintf("sub_%04d", i)
		if _, ok := tiered.Get(id); ok != slices.ContainsFunc(want, func(c *Compiled) bool { return c.ID == id }) {
			t.Fatalf("compacted set: Get(%s) found %v", id, ok)
		}
	}
	types, sources = append(types, rareTypes...), append(sources, rareSources...)
	for _, set := range []*Set{NewSet(subs), changed, tiered, NewSet(changed.All())} {
		checkAgainstBruteForce(t, r, set, types, levels, sources)
	}
}

// checkAgainstBruteForce matches random events with set and by running
// every filter of set.All().
func checkAgainstBruteForce(t *testing.T, r *rand.Rand, set *Set, types, levels, sources []string) {
	t.Helper()
	for range 500 {
		ev := map[string]any{
			"type": types[r.IntN(len(types))], "level": strings.ToUpper(levels[r.IntN(len(levels))]),
			"source": sources[r.IntN(len(sources))], "amount": r.IntN(120),
		}
		switch r.IntN(4) {
		case 0:
			ev["meta"] = map[string]any{"region": []any{"eu", "us", 1.0, nil}[r.IntN(4)], "flag": []any{true, false, nil, "true"}[r.IntN(4)]}
		case 1:
			ev["meta"] = map[string]any{"region": []any{"eu"}} // not a scalar
		}
		js, _ := json.Marshal(ev)
		e := mustEvent(t, string(js))
		var want []string
		for _, c := range set.All() {
			if c.Enabled && c.Matches(e) {
				want = append(want, c.ID)
			}
		}
		var got []string
		for _, c := range set.Match(e, nil) {
			got = append(got, c.ID)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("event %s:\n index  %v\n brute  %v", js, got, want)
		}
	}
}

// TestMatchTiersInIDOrder matches an event that every subscription
// accepts against sets whose tiers hold their changes in turns.
func TestMatchTiersInIDOrder(t *testing.T) {
	sub := func(i int) *Compiled {
		c, err := Compile(valid(func(s *Subscription) { s.ID = fmt.Sprintf("sub_%02d", i); s.Filter = Filter{Levels: []string{"error"}} }))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name        string
		mid, recent []int // changed, then compacted; changed since
	}{
		{"base only", nil, nil},
		{"recent first", nil, []int{0, 1}},
		{"recent last", nil, []int{30, 31}},
		{"middle tier between", []int{5, 9}, nil},
		{"all three interleaved", []int{2, 7, 12}, []int{1, 8, 31}},
		{"recent before the middle tier", []int{20, 21}, []int{3, 4}},
		{"middle tier before recent", []int{3, 4}, []int{20, 21}},
		{"a middle tier's subscription changed again", []int{6, 9}, []int{6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var base []*Compiled
			for i := range 32 {
				base = append(base, sub(i))
			}
			set := NewSet(base)
			for _, i := range tt.mid {
				set = set.With(sub(i))
			}
			if set = set.Compacted(); len(tt.mid) > 0 && set.mid == nil {
				t.Fatal("the changes were not put in the middle tier")
			}
			for _, i := range tt.recent {
				set = set.With(sub(i))
			}
			var got []string
			for _, c := range set.Match(mustEvent(t, `{"level":"error"}`), nil) {
				got = append(got, c.ID)
			}
			if len(got) != 32 || !slices.IsSorted(got) {
				t.Errorf("matched %d subscriptions, want 32 in ID order: %v", len(got), got)
			}
		})
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	var subs []*Compiled
	for i := range 1000 {
		c, err := Compile(valid(func(s *Subscription) {
			s.ID = fmt.Sprintf("sub_%04d", i)
			s.Filter = Filter{Levels: []string{"error"}, Sources: []string{fmt.Sprintf("svc-%d", i%50)}}
		}))
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, c)
	}
	set := NewSet(subs)
	e := mustEvent(t, `{"level":"error","source":"svc-7"}`)
	dst := make([]*Compiled, 0, 64)
	if got := len(set.Match(e, dst)); got != 20 {
		t.Fatalf("matched %d, want 20", got)
	}
	if n := testing.AllocsPerRun(200, func() { dst = set.Match(e, dst[:0]) }); n != 0 {
		t.Errorf("Match allocates %.1f times per event", n)
	}
	// Nor with subscriptions changed since the set was built.
	added, err := Compile(valid(func(s *Subscription) { s.ID = "sub_0500a"; s.Filter = Filter{Sources: []string{"svc-7"}} }))
	if err != nil {
		t.Fatal(err)
	}
	set = set.With(added).Without("sub_0007")
	if got := set.Match(e, dst[:0]); len(got) != 20 || got[9] != added {
		t.Fatalf("after changes matched %d, want 20 in ID order", len(got))
	}
	if n := testing.AllocsPerRun(200, func() { dst = set.Match(e, dst[:0]) }); n != 0 {
		t.Errorf("Match of a changed set allocates %.1f times per event", n)
	}
}

func TestSecrets(t *testing.T) {
	s := NewSecret()
	key, err := DecodeSecret(s)
	if err != nil || len(key) != 32 {
		t.Fatalf("NewSecret() = %q: %v (key %d bytes)", s, err, len(key))
	}
	if m := MaskSecret(s); strings.Contains(m, s[10:]) || !strings.HasPrefix(m, "whsec_") {
		t.Errorf("MaskSecret leaks: %q", m)
	}
	if id1, id2 := NewID(), NewID(); NewSecret() == s || id1 == id2 {
		t.Error("generated values repeat")
	}
}

// TestMaskedHidesCredentials: what a subscription shows hides its
// secrets, header values and query values, and what is written back
// masked keeps what it hid.
func TestMaskedHidesCredentials(t *testing.T) {
	s := valid(func(s *Subscription) {
		s.URL = "https://hooks.example.com/in?token=s3cr3t-t0ken&team=a#frag"
		s.Headers = map[string]string{"Authorization": "Bearer s3cr3t-t0ken", "X-Env": "prod"}
		s.Payload = payload.Spec{Format: payload.PagerDuty, RoutingKey: "R0UT1NGs3cr3tKEY"}
	})
	m := s.Masked()
	shown, _ := json.Marshal(m)
	for _, secret := range []string{"s3cr3t", "prod", s.Secret[10:], "frag"} {
		if strings.Contains(string(shown), secret) {
			t.Errorf("masked subscription shows %q: %s", secret, shown)
		}
	}
	if m.Payload.RoutingKey != "R0UT…" {
		t.Errorf("masked routing key %q", m.Payload.RoutingKey)
	}
	if m.URL != "https://hooks.example.com/in?token=…&team=…#…" || m.Headers["Authorization"] != "Bear…" || m.Headers["X-Env"] != "…" {
		t.Errorf("masked url %q, headers %v", m.URL, m.Headers)
	}
	tests := []struct {
		name string
		edit func(*Subscription)
		want func(Subscription) bool
	}{
		{"written back as shown", func(*Subscription) {}, func(u Subscription) bool {
			return u.URL == s.URL && u.Secret == s.Secret && u.Headers["Authorization"] == s.Headers["Authorization"] && u.Headers["X-Env"] == "prod" &&
				u.Payload.RoutingKey == s.Payload.RoutingKey
		}},
		{"a header changed", func(m *Subscription) { m.Headers["X-Env"] = "staging" }, func(u Subscription) bool {
			return u.Headers["X-Env"] == "staging" && u.Headers["Authorization"] == s.Headers["Authorization"]
		}},
		{"the url changed", func(m *Subscription) { m.URL = "https://other.example.com/in" }, func(u Subscription) bool {
			return u.URL == "https://other.example.com/in"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := s.Masked()
			tt.edit(&m)
			if u := m.Unmasked(s); !tt.want(u) {
				t.Errorf("unmasked = %+v", u)
			}
		})
	}
}
