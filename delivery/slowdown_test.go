package delivery

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestA429LowersThePace: an endpoint sent 20 attempts a second answers
// 429 once; this worker then sends it about 10 a second, putting the rest
// off without an attempt, and sends freely again once the slowdown is
// over.
func TestA429LowersThePace(t *testing.T) {
	var refuse atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if refuse.CompareAndSwap(true, false) {
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	t.Cleanup(srv.Close)
	s := loopbackSender(t, SenderOptions{RateWait: 50 * time.Millisecond, SlowdownFor: 2 * time.Second})
	sub := compiled(t, srv.URL, nil)
	ctx := context.Background()
	for range 30 { // 20 a second for 1.5 s
		if out := s.Send(ctx, sub, request(sub, "m", []byte(`{}`))); out.Class != Delivered {
			t.Fatalf("before the 429: %+v", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	refuse.Store(true)
	if out := s.Send(ctx, sub, request(sub, "m", []byte(`{}`))); out.Reason != ReasonHTTP429 {
		t.Fatalf("want a 429: %+v", out)
	}
	flat := func(d time.Duration) (sent, putOff int) {
		for end := time.Now().Add(d); time.Now().Before(end); {
			switch out := s.Send(ctx, sub, request(sub, "m", []byte(`{}`))); {
			case out.Class == Delivered:
				sent++
			case out.Reason == ReasonRateLimited && out.NotAttempted:
				putOff++
			default:
				t.Fatalf("unexpected outcome %+v", out)
			}
		}
		return sent, putOff
	}
	sent, putOff := flat(time.Second)
	t.Logf("after the 429: %d sent and %d put off in a second", sent, putOff)
	if sent < 7 || sent > 13 || putOff == 0 {
		t.Errorf("%d sent (%d put off) in the second after a 429 at 20/s, want about 10", sent, putOff)
	}
	time.Sleep(time.Second) // the slowdown (2s) is over
	if sent, putOff := flat(500 * time.Millisecond); sent < 50 || putOff != 0 {
		t.Errorf("after the slowdown: %d sent, %d put off in half a second", sent, putOff)
	}
}
