package processor

import (
	"regexp"
	"testing"
	"time"

	"github.com/hookstream/hookstream/delivery"
)

func TestWebhookID(t *testing.T) {
	at := time.UnixMilli(1714557600123)
	base := WebhookID(delivery.Origin{Topic: "logs", Partition: 1, Offset: 42}, at, "sub_1")
	if !regexp.MustCompile(`^msg_[a-z2-7]{26}$`).MatchString(base) {
		t.Fatalf("WebhookID = %q, want msg_ and 26 base32 characters", base)
	}
	if again := WebhookID(delivery.Origin{Topic: "logs", Partition: 1, Offset: 42}, at, "sub_1"); again != base {
		t.Errorf("not stable: %s then %s", base, again)
	}
	others := []struct {
		name   string
		origin delivery.Origin
		at     time.Time
		sub    string
	}{
		{"other subscription", delivery.Origin{Topic: "logs", Partition: 1, Offset: 42}, at, "sub_2"},
		{"other offset", delivery.Origin{Topic: "logs", Partition: 1, Offset: 43}, at, "sub_1"},
		{"other partition", delivery.Origin{Topic: "logs", Partition: 2, Offset: 42}, at, "sub_1"},
		{"other topic", delivery.Origin{Topic: "logs2", Partition: 1, Offset: 42}, at, "sub_1"},
		{"recreated topic", delivery.Origin{Topic: "logs", Partition: 1, Offset: 42}, at.Add(time.Hour), "sub_1"},
		{"topic and subscription run together", delivery.Origin{Topic: "log", Partition: 1, Offset: 42}, at, "ssub_1"},
	}
	for _, o := range others {
		if id := WebhookID(o.origin, o.at, o.sub); id == base {
			t.Errorf("%s: same id %s", o.name, id)
		}
	}
}

func TestDLQLabelIsBounded(t *testing.T) {
	tests := map[string]string{
		"exhausted":                     "exhausted",
		"permanent:http_4xx":            "permanent:http_4xx",
		"permanent:destination_blocked": "permanent:destination_blocked",
		"poison:invalid_json":           "poison",
	}
	for in, want := range tests {
		if got := dlqLabel(in); got != want {
			t.Errorf("dlqLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
