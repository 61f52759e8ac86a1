package main

import (
	"bytes"
	"fmt"
	"testing"
)

func TestLogRingKeepsLastLinesInOrder(t *testing.T) {
	var out bytes.Buffer
	r := newLogRing(&out, 3)
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(r, "line %d\n", i)
	}
	if got := fmt.Sprint(r.Last(10)); got != "[line 3 line 4 line 5]" {
		t.Fatalf("Last(10) = %s", got)
	}
	if got := fmt.Sprint(r.Last(2)); got != "[line 4 line 5]" {
		t.Fatalf("Last(2) = %s", got)
	}
	if out.String() != "line 1\nline 2\nline 3\nline 4\nline 5\n" {
		t.Fatalf("passed through %q", out.String())
	}
}
