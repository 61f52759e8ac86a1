package webui

import (
	"strings"
	"testing"
	"time"
)

// A line whose provider stopped answering says so, and since when; a
// registered one says when it last registered and heard a keep-alive
// answer.
func TestLineTextProviderNotAnswering(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	since := now.Add(-135 * time.Second)
	retry := now.Add(20 * time.Second)
	j := LineStatusJSON{State: LineFailing, LastError: "provider not answering keep-alives",
		NotAnsweringSince: &since, notAnsweringForS: 135, NextRetry: &retry, RetryInS: 20}
	lineText(&j)
	if want := "Failing: provider not answering since 11:57:45 UTC (2:15), next try in 0:20"; j.Text != want {
		t.Fatalf("text %q, want %q", j.Text, want)
	}
	reg, ka := now.Add(-5*time.Minute), now.Add(-12*time.Second)
	j = LineStatusJSON{State: LineRegistered, LastRegistered: &reg, LastRegisteredAgoS: 300, LastKeepAliveAnswer: &ka, LastKeepAliveAgoS: 12}
	lineText(&j)
	if want := "Registered: registered 5:00 ago, keep-alive answered 0:12 ago"; j.Text != want {
		t.Fatalf("text %q, want %q", j.Text, want)
	}
	if !strings.HasPrefix(j.Label, "Registered") {
		t.Fatalf("label %q", j.Label)
	}
}
