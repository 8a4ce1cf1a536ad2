package history

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rs/zerolog"

	"github.com/hookstream/hookstream/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// flushNow writes what r buffered, as Run does every interval.
func flushNow(t *testing.T, r *Recorder) {
	t.Helper()
	r.write(context.Background())
}

func TestRecorderKeepsTheNewestAttemptsAndCountsAll(t *testing.T) {
	testenv.ForEachRedis(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		r := New(rdb, Options{Prefix: prefix, Limit: 3, Logger: zerolog.Nop()})
		ctx := context.Background()
		base := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
		outcomes := []struct{ outcome, next string }{
			{"retryable", "retry:1s"}, {"retryable", "retry:2s"}, {"delivered", ""},
			{"permanent", "dlq"}, {"delivered", ""},
		}
		// Two flushes, so the list is trimmed across writes too.
		for i, o := range outcomes {
			r.Record("sub_a", Attempt{Time: base.Add(time.Duration(i) * time.Second), Number: i + 1, Outcome: o.outcome, Next: o.next})
			if i == 1 {
				flushNow(t, r)
			}
		}
		flushNow(t, r)

		got, err := r.Attempts(ctx, "sub_a", 10)
		if err != nil {
			t.Fatal(err)
		}
		var numbers []int
		for _, a := range got {
			numbers = append(numbers, a.Number)
		}
		if len(numbers) != 3 || numbers[0] != 5 || numbers[1] != 4 || numbers[2] != 3 {
			t.Errorf("attempts kept = %v, want the newest 3, newest first: [5 4 3]", numbers)
		}
		totals, err := r.Totals(ctx, []string{"sub_a", "sub_none"})
		if err != nil {
			t.Fatal(err)
		}
		want := Totals{Attempts: 5, Delivered: 2, Failed: 3, Retried: 2, DeadLettered: 1, LastAttempt: base.Add(4 * time.Second)}
		if got := totals["sub_a"]; got != want {
			t.Errorf("totals = %+v, want %+v", got, want)
		}
		if got := totals["sub_a"].SuccessRate(); got != 0.4 {
			t.Errorf("success rate = %v, want 0.4", got)
		}
		if got := totals["sub_none"]; got != (Totals{}) {
			t.Errorf("totals of a subscription without attempts = %+v", got)
		}

		if err := r.Forget(ctx, "sub_a"); err != nil {
			t.Fatal(err)
		}
		if got, _ := r.Attempts(ctx, "sub_a", 10); len(got) != 0 {
			t.Errorf("%d attempts after Forget", len(got))
		}
	})
}

// TestRecorderSkipsDeletedSubscriptions: attempts buffered for a
// subscription deleted before the flush do not bring its history back.
func TestRecorderSkipsDeletedSubscriptions(t *testing.T) {
	testenv.ForEachRedis(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		known := map[string]bool{"kept": true}
		r := New(rdb, Options{Prefix: prefix, Known: func(id string) bool { return known[id] }, Logger: zerolog.Nop()})
		r.Record("kept", Attempt{Time: time.Now(), Number: 1, Outcome: "delivered"})
		r.Record("deleted", Attempt{Time: time.Now(), Number: 1, Outcome: "delivered"})
		flushNow(t, r)
		totals, err := r.Totals(context.Background(), []string{"kept", "deleted"})
		if err != nil {
			t.Fatal(err)
		}
		if totals["kept"].Attempts != 1 || totals["deleted"].Attempts != 0 {
			t.Errorf("totals = %+v, want 1 attempt for kept and none for deleted", totals)
		}
	})
}

// Within one flush interval the ring keeps the newest Limit attempts in
// order, however many came and whether or not it filled.
func TestRecorderRingWithinAnInterval(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	r := New(rdb, Options{Prefix: prefix, Limit: 3, Logger: zerolog.Nop()})
	tests := []struct {
		recorded int
		want     []int // attempt numbers kept, newest first
	}{
		{1, []int{1}},
		{2, []int{2, 1}},
		{3, []int{3, 2, 1}},
		{4, []int{4, 3, 2}},
		{7, []int{7, 6, 5}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.recorded), func(t *testing.T) {
			id := fmt.Sprint("sub_", tt.recorded)
			for i := range tt.recorded {
				r.Record(id, Attempt{Time: time.Now(), Number: i + 1, Outcome: "delivered"})
			}
			flushNow(t, r)
			got, err := r.Attempts(context.Background(), id, 10)
			if err != nil {
				t.Fatal(err)
			}
			var numbers []int
			for _, a := range got {
				numbers = append(numbers, a.Number)
			}
			if !slices.Equal(numbers, tt.want) {
				t.Errorf("kept %v, want %v", numbers, tt.want)
			}
		})
	}
}
