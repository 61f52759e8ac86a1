package phone

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCallLogReadNewestFirstPagedAndBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "calls.jsonl")
	l := OpenCallLog(path)
	if got, total, err := l.Read(0, 10); err != nil || total != 0 || len(got) != 0 {
		t.Fatalf("empty log: %v %d %v", got, total, err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 25; i++ {
		if err := l.Append(Entry{Start: t0.Add(time.Duration(i) * time.Minute), Number: strconv.Itoa(i), Direction: "out"}); err != nil {
			t.Fatal(err)
		}
	}
	// A torn last line (power loss mid-write) is skipped.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"start":"2026-01-01T00:`)
	f.Close()
	got, total, err := l.Read(10, 10)
	if err != nil || total != 25 || len(got) != 10 || got[0].Number != "14" || got[9].Number != "5" {
		t.Fatalf("page 2: total %d, %+v, %v", total, got, err)
	}
	if got, _, _ := l.Read(20, 10); len(got) != 5 || got[4].Number != "0" {
		t.Fatalf("last page %+v", got)
	}
	// Past 1 MiB the oldest half goes.
	big := Entry{Number: strings.Repeat("9", 2000), Direction: "in"}
	for i := 0; i < 700; i++ {
		if err := l.Append(big); err != nil {
			t.Fatal(err)
		}
	}
	if fi, _ := os.Stat(path); fi.Size() > maxLogBytes {
		t.Fatalf("log is %d bytes, bound %d", fi.Size(), maxLogBytes)
	}
	if _, total, _ := l.Read(0, 1); total < 100 {
		t.Fatalf("trimmed too much: %d entries left", total)
	}
}
