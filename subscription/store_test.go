package subscription

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/hookstream/hookstream/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func TestStoreCRUD(t *testing.T) {
	testenv.ForEachRedis(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		store := NewStore(rdb, prefix)
		ctx := context.Background()
		sub := valid(nil)
		if err := store.Create(ctx, sub); err != nil {
			t.Fatal(err)
		}
		if err := store.Create(ctx, sub); !errors.Is(err, ErrExists) {
			t.Fatalf("second Create() = %v, want ErrExists", err)
		}
		got, err := store.Get(ctx, sub.ID)
		if err != nil || got.URL != sub.URL || got.Secret != sub.Secret {
			t.Fatalf("Get() = %+v, %v", got, err)
		}
		v1, _ := store.Version(ctx)
		sub.Name = "renamed"
		if err := store.Put(ctx, sub); err != nil {
			t.Fatal(err)
		}
		subs, snap, err := loadAll(ctx, store)
		if err != nil || len(subs) != 1 || subs[0].Name != "renamed" || snap.Version != v1+1 {
			t.Fatalf("Load() = %+v, %+v, %v (version before put %d)", subs, snap, err, v1)
		}
		if err := store.Delete(ctx, sub.ID); err != nil {
			t.Fatal(err)
		}
		if err := store.Delete(ctx, sub.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second Delete() = %v, want ErrNotFound", err)
		}
		if _, err := store.Get(ctx, sub.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get() after delete = %v, want ErrNotFound", err)
		}
	})
}

func TestCacheFollowsChangesWithinASecond(t *testing.T) {
	testenv.ForEachRedis(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		store := NewStore(rdb, prefix)
		// A long refresh interval: only the pub/sub notification can be fast.
		cache := NewCache(store, CacheOptions{Refresh: time.Hour, Logger: zerolog.New(zerolog.NewTestWriter(t))})
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(func() { cancel(); cache.Wait() })
		if err := cache.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if n := cache.Current().Len(); n != 0 {
			t.Fatalf("fresh cache has %d subscriptions", n)
		}
		// Start returns listening: a change made right after it is not missed.
		if n, err := subscribers(ctx, rdb, store.Channel()); err != nil || n == 0 {
			t.Fatalf("Start returned before subscribing to %s: %v, %v", store.Channel(), n, err)
		}
		start := time.Now()
		if err := store.Create(ctx, valid(nil)); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, time.Second, func() bool { _, ok := cache.Current().Get("sub_1"); return ok },
			"created subscription not in the cache")
		t.Logf("create reached the cache in %s", time.Since(start))
		if err := store.Delete(ctx, "sub_1"); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, time.Second, func() bool { return cache.Current().Len() == 0 },
			"deleted subscription still in the cache")
	})
}

func TestCacheSurvivesRedisOutage(t *testing.T) {
	rdb, proxy, prefix := testenv.RedisBehindProxy(t)
	direct, _ := testenv.Redis(t)
	store := NewStore(rdb, prefix)
	ctx, cancel := context.WithCancel(context.Background())
	if err := NewStore(direct, prefix).Create(ctx, valid(nil)); err != nil {
		t.Fatal(err)
	}
	cache := NewCache(store, CacheOptions{Refresh: 50 * time.Millisecond, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	t.Cleanup(func() { cancel(); cache.Wait() })
	if err := cache.Start(ctx); err != nil {
		t.Fatal(err)
	}

	proxy.Cut()
	testenv.Eventually(t, 2*time.Second, func() bool { _, err := cache.Health(); return err != nil },
		"cache did not report the outage")
	if _, ok := cache.Current().Get("sub_1"); !ok {
		t.Fatal("cached subscription lost during the outage")
	}
	// A change made while this worker cannot see Redis…
	if err := NewStore(direct, prefix).Create(context.Background(), valid(func(s *Subscription) { s.ID = "sub_2" })); err != nil {
		t.Fatal(err)
	}
	proxy.Restore()
	// …arrives through the version check once Redis is back, before the
	// cache reports itself healthy: its announcement was lost, and a
	// worker that says it is ready must match events with it.
	testenv.Eventually(t, 3*time.Second, func() bool { _, err := cache.Health(); return err == nil },
		"cache still reports the outage")
	if _, ok := cache.Current().Get("sub_2"); !ok {
		t.Fatal("cache healthy again without the change made during the outage")
	}
}

func TestCacheStartWaitsForRedis(t *testing.T) {
	rdb, proxy, prefix := testenv.RedisBehindProxy(t)
	proxy.Cut()
	cache := NewCache(NewStore(rdb, prefix), CacheOptions{Logger: zerolog.New(zerolog.NewTestWriter(t))})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); cache.Wait() })
	errc := make(chan error, 1)
	go func() { errc <- cache.Start(ctx) }()
	select {
	case err := <-errc:
		t.Fatalf("Start returned %v with Redis down; it must wait", err)
	case <-time.After(300 * time.Millisecond):
	}
	proxy.Restore()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Start did not return after Redis came back")
	}
}

// TestLoadPassesOnEachEntryOnce: Load hands on every stored entry that
// decodes exactly once and names the ones that do not; the cache keeps
// the ones that compile.
func TestLoadPassesOnEachEntryOnce(t *testing.T) {
	testenv.ForEachRedis(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		ctx := context.Background()
		store := NewStore(rdb, prefix)
		want := map[string]bool{} // ID: compiles
		for i := range 300 {
			sub := valid(func(s *Subscription) { s.ID = fmt.Sprintf("sub_%03d", i) })
			if err := store.Create(ctx, sub); err != nil {
				t.Fatal(err)
			}
			want[sub.ID] = true
		}
		invalid := valid(func(s *Subscription) { s.ID, s.URL = "sub_invalid", "ftp://example.com" })
		b, err := json.Marshal(invalid)
		if err != nil {
			t.Fatal(err)
		}
		hash := HashTag(prefix) + ":subscriptions"
		if err := rdb.HSet(ctx, hash, invalid.ID, b, "sub_broken", "{not json").Err(); err != nil {
			t.Fatal(err)
		}
		want[invalid.ID] = false

		seen := map[string]int{}
		snap, err := store.Load(ctx, func(s Subscription) { seen[s.ID]++ })
		if err != nil {
			t.Fatal(err)
		}
		for id := range want {
			if seen[id] != 1 {
				t.Errorf("%s passed on %d times, want once", id, seen[id])
			}
		}
		if len(seen) != len(want) {
			t.Errorf("%d IDs passed on, want %d", len(seen), len(want))
		}
		if len(snap.Broken) != 1 || snap.Broken["sub_broken"] == nil {
			t.Errorf("Broken = %v, want sub_broken alone", snap.Broken)
		}

		cache := NewCache(store, CacheOptions{Logger: zerolog.New(zerolog.NewTestWriter(t))})
		cctx, cancel := context.WithCancel(ctx)
		t.Cleanup(func() { cancel(); cache.Wait() })
		if err := cache.Start(cctx); err != nil {
			t.Fatal(err)
		}
		for id, compiles := range want {
			if _, ok := cache.Current().Get(id); ok != compiles {
				t.Errorf("cache has %s: %v, want %v", id, ok, compiles)
			}
		}
		if got := cache.Current().Len(); got != 300 {
			t.Errorf("cache holds %d, want 300", got)
		}
	})
}

// TestStoreUpdateLosesNothing: concurrent read-modify-write updates of
// one subscription all take effect, one after the other.
func TestStoreUpdateLosesNothing(t *testing.T) {
	testenv.ForEachRedis(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		store := NewStore(rdb, prefix)
		ctx := context.Background()
		sub := valid(nil)
		sub.Headers = map[string]string{}
		if err := store.Create(ctx, sub); err != nil {
			t.Fatal(err)
		}
		const writers = 8
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = store.Update(ctx, sub.ID, func(cur Subscription) (Subscription, error) {
					if cur.Headers == nil {
						cur.Headers = map[string]string{}
					}
					cur.Headers["x-writer-"+string(rune('a'+i))] = "1"
					return cur, nil
				})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil && !errors.Is(err, ErrConflict) {
				t.Fatalf("writer %d: %v", i, err)
			}
		}
		got, err := store.Get(ctx, sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		conflicts := 0
		for _, err := range errs {
			if err != nil {
				conflicts++
			}
		}
		if len(got.Headers) != writers-conflicts {
			t.Errorf("%d headers stored after %d successful updates: an update was lost", len(got.Headers), writers-conflicts)
		}

		if _, err := store.Update(ctx, "sub_none", func(c Subscription) (Subscription, error) { return c, nil }); !errors.Is(err, ErrNotFound) {
			t.Errorf("Update() of an unknown ID = %v, want ErrNotFound", err)
		}
		refuse := errors.New("refused")
		if _, err := store.Update(ctx, sub.ID, func(c Subscription) (Subscription, error) { return c, refuse }); !errors.Is(err, refuse) {
			t.Errorf("Update() = %v, want the change's error", err)
		}
	})
}

// TestCacheAppliesEachChangeAlone: a change announced on the channel is
// applied by reading the one subscription it changed; only a gap in the
// versions (changes missed) loads everything again.
func TestCacheAppliesEachChangeAlone(t *testing.T) {
	testenv.ForEachRedis(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		store := NewStore(rdb, prefix)
		ctx, cancel := context.WithCancel(context.Background())
		for i := range 50 {
			if err := store.Create(ctx, valid(func(s *Subscription) { s.ID = fmt.Sprintf("sub_%02d", i) })); err != nil {
				t.Fatal(err)
			}
		}
		var reloads atomic.Int32
		cache := NewCache(store, CacheOptions{Refresh: time.Hour, Logger: zerolog.New(zerolog.NewTestWriter(t)),
			OnReload: func(int, error) { reloads.Add(1) }})
		t.Cleanup(func() { cancel(); cache.Wait() })
		if err := cache.Start(ctx); err != nil {
			t.Fatal(err)
		}
		started := reloads.Load()
		for i := range 300 { // beyond compactAt: the set is built anew once on the way
			id := fmt.Sprintf("sub_%02d", i%60)
			if i%7 == 0 {
				_ = store.Delete(ctx, id)
				continue
			}
			if err := store.Put(ctx, valid(func(s *Subscription) { s.ID = id; s.Name = fmt.Sprint("v", i) })); err != nil {
				t.Fatal(err)
			}
		}
		want, _ := store.Version(ctx)
		testenv.Eventually(t, 5*time.Second, func() bool { return cache.Version() == want }, "cache at version %d, want %d", cache.Version(), want)
		if n := reloads.Load() - started; n != 0 {
			t.Errorf("%d full reloads for 300 announced changes, want none", n)
		}
		subs, _, err := loadAll(ctx, store)
		if err != nil {
			t.Fatal(err)
		}
		if got := cache.Current().Len(); got != len(subs) {
			t.Errorf("cache holds %d subscriptions, the store %d", got, len(subs))
		}
		for _, s := range subs {
			if c, ok := cache.Current().Get(s.ID); !ok || c.Name != s.Name {
				t.Errorf("cache has %s as %v, the store as %q", s.ID, c, s.Name)
			}
		}

		// A version skipped (a message missed) reloads everything.
		if err := rdb.Incr(ctx, store.VersionKey()).Err(); err != nil {
			t.Fatal(err)
		}
		if err := store.Delete(ctx, "sub_01"); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 5*time.Second, func() bool { return reloads.Load() > started }, "a gap in versions did not reload")
		if _, ok := cache.Current().Get("sub_01"); ok {
			t.Error("deleted subscription still cached after the reload")
		}
	})
}

// TestCacheCheckWaitsAnIntervalForAChange: the refresh check reloads only
// when the cache is still behind the version the check before it read. A
// change stored since may still be on its way on pub/sub, and writes that
// keep coming must not reload every subscription each interval.
func TestCacheCheckWaitsAnIntervalForAChange(t *testing.T) {
	testenv.ForEachRedis(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		ctx := context.Background()
		store := NewStore(rdb, prefix)
		if err := store.Create(ctx, valid(nil)); err != nil {
			t.Fatal(err)
		}
		var reloads int
		// Not started: the test is the refresh loop, and nothing listens,
		// so every change stored is a change missed until applied.
		cache := NewCache(store, CacheOptions{Logger: zerolog.New(zerolog.NewTestWriter(t)),
			OnReload: func(int, error) { reloads++ }})
		if err := cache.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		create := func(id string) int64 {
			t.Helper()
			if err := store.Create(ctx, valid(func(s *Subscription) { s.ID = id })); err != nil {
				t.Fatal(err)
			}
			v, err := store.Version(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		// announce stores a change and applies it as its message would.
		announce := func(id string) func() {
			return func() {
				v := create(id)
				if err := cache.applyChange(ctx, Change{Version: v, ID: id}); err != nil {
					t.Fatal(err)
				}
			}
		}
		steps := []struct {
			name    string
			do      func()
			reloads int // after the check
			cached  []string
		}{
			{"nothing stored since the load", func() {}, 1, []string{"sub_1"}},
			{"a change stored since the check before", func() { create("sub_2") }, 1, []string{"sub_1"}},
			{"that change still not applied an interval later", func() {}, 2, []string{"sub_1", "sub_2"}},
			{"a change stored and applied before the next check", announce("sub_3"), 2, []string{"sub_1", "sub_2", "sub_3"}},
			{"another, as writes keep coming", announce("sub_4"), 2, []string{"sub_1", "sub_2", "sub_3", "sub_4"}},
			{"the stored version behind the cache's: Redis lost writes", func() {
				if err := rdb.HDel(ctx, store.hash, "sub_4").Err(); err != nil {
					t.Fatal(err)
				}
				if err := rdb.Set(ctx, store.VersionKey(), 1, 0).Err(); err != nil {
					t.Fatal(err)
				}
			}, 3, []string{"sub_1", "sub_2", "sub_3"}},
		}
		for _, st := range steps {
			st.do()
			cache.check(ctx)
			if reloads != st.reloads {
				t.Fatalf("%s: %d loads, want %d", st.name, reloads, st.reloads)
			}
			var got []string
			for _, c := range cache.Current().All() {
				got = append(got, c.ID)
			}
			if !slices.Equal(got, st.cached) {
				t.Fatalf("%s: cached %v, want %v", st.name, got, st.cached)
			}
		}
	})
}

// TestStorePages: pages in ID order, with filters that read a bounded
// number of subscriptions, and an index rebuilt for subscriptions stored
// without one.
func TestStorePages(t *testing.T) {
	testenv.ForEachRedis(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		store := NewStore(rdb, prefix)
		ctx := context.Background()
		for i := range 25 {
			if err := store.Create(ctx, valid(func(s *Subscription) { s.ID = fmt.Sprintf("sub_%02d", i); s.Enabled = i%5 == 0 })); err != nil {
				t.Fatal(err)
			}
		}
		enabled := func(s Subscription) bool { return s.Enabled }
		walk := func(limit, scan int, keep func(Subscription) bool) (ids []string, pages int) {
			t.Helper()
			cursor := ""
			for {
				page, next, err := store.Page(ctx, cursor, limit, scan, keep)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, s := range page {
					ids = append(ids, s.ID)
				}
				if next == "" {
					return ids, pages
				}
				if len(page) > limit || pages > 100 {
					t.Fatalf("page of %d, limit %d; %d pages", len(page), limit, pages)
				}
				cursor = next
			}
		}
		tests := []struct {
			name              string
			limit, scan       int
			keep              func(Subscription) bool
			wantIDs, minPages int
		}{
			{"all in pages of 10", 10, 1000, nil, 25, 3},
			{"all in one page", 100, 1000, nil, 25, 1},
			{"page exactly full", 25, 1000, nil, 25, 1},
			{"enabled only", 2, 1000, enabled, 5, 3},
			{"enabled, reading 3 at a time", 10, 3, enabled, 5, 9},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ids, pages := walk(tt.limit, tt.scan, tt.keep)
				if len(ids) != tt.wantIDs || !slices.IsSorted(ids) || pages < tt.minPages {
					t.Errorf("%d ids in %d pages: %v", len(ids), pages, ids)
				}
			})
		}

		// Subscriptions written before the index existed are indexed by the
		// next full load.
		if err := rdb.Del(ctx, HashTag(prefix)+":subscriptions:ids").Err(); err != nil {
			t.Fatal(err)
		}
		if ids, _ := walk(10, 1000, nil); len(ids) != 0 {
			t.Fatalf("%d listed without an index", len(ids))
		}
		if _, _, err := loadAll(ctx, store); err != nil {
			t.Fatal(err)
		}
		if ids, _ := walk(10, 1000, nil); len(ids) != 25 {
			t.Errorf("%d listed after the index was rebuilt, want 25", len(ids))
		}
	})
}

func TestHashTag(t *testing.T) {
	for prefix, want := range map[string]string{
		"hookstream": "{hookstream}", "{hs}": "{hs}", "app:{hs}": "app:{hs}", "a{}b": "{a{}b}", "x}{": "{x}{}",
	} {
		if got := HashTag(prefix); got != want {
			t.Errorf("HashTag(%q) = %q, want %q", prefix, got, want)
		}
	}
}

// TestStoreMovesOldKeys: subscriptions stored under the keys of a version
// without hash tags are moved to the tagged keys, and found there.
func TestStoreMovesOldKeys(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	b, _ := json.Marshal(valid(nil))
	if err := rdb.HSet(ctx, prefix+":subscriptions", "sub_1", b).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, prefix+":subscriptions:version", 7, 0).Err(); err != nil {
		t.Fatal(err)
	}
	store := NewStore(rdb, prefix)
	if err := store.MoveKeys(ctx); err != nil {
		t.Fatal(err)
	}
	subs, snap, err := loadAll(ctx, store)
	if err != nil || len(subs) != 1 || snap.Version != 7 {
		t.Fatalf("Load() after moving = %+v, %+v, %v", subs, snap, err)
	}
	if page, _, err := store.Page(ctx, "", 10, 100, nil); err != nil || len(page) != 1 {
		t.Errorf("Page() after moving = %d, %v", len(page), err)
	}
	if n, _ := rdb.Exists(ctx, prefix+":subscriptions").Result(); n != 0 {
		t.Error("old key still there")
	}
	if err := store.MoveKeys(ctx); err != nil {
		t.Errorf("second MoveKeys: %v", err)
	}
}

// loadAll is store.Load collecting what it passes on.
func loadAll(ctx context.Context, store *Store) ([]Subscription, Snapshot, error) {
	var subs []Subscription
	snap, err := store.Load(ctx, func(s Subscription) { subs = append(subs, s) })
	return subs, snap, err
}

// subscribers counts the subscribers of channel: on a cluster, on every
// node, since a subscriber holds a connection to one of them.
func subscribers(ctx context.Context, rdb redis.UniversalClient, channel string) (int64, error) {
	c, ok := rdb.(*redis.ClusterClient)
	if !ok {
		n, err := rdb.PubSubNumSub(ctx, channel).Result()
		return n[channel], err
	}
	var mu sync.Mutex
	var total int64
	err := c.ForEachShard(ctx, func(ctx context.Context, shard *redis.Client) error {
		n, err := shard.PubSubNumSub(ctx, channel).Result()
		mu.Lock()
		total += n[channel]
		mu.Unlock()
		return err
	})
	return total, err
}
