package rtpenginetest

import (
	"reflect"
	"testing"
)

// TestBencode: what the ng protocol sends encodes as bencode with sorted
// keys, and a reply of that shape decodes back.
func TestBencode(t *testing.T) {
	cmd := map[string]any{"command": "offer", "sdp": "v=0\r\n", "call-id": "a:b", "flags": []string{"x"}, "n": 3}
	got := string(Encode(cmd))
	want := "d7:call-id3:a:b7:command5:offer5:flagsl1:xe1:ni3e3:sdp5:v=0\r\ne"
	if got != want {
		t.Fatalf("Encode = %q, want %q", got, want)
	}
	v, rest, err := Decode([]byte(want + "tail"))
	if err != nil || string(rest) != "tail" {
		t.Fatalf("Decode: %v, rest %q", err, rest)
	}
	back := map[string]any{"command": "offer", "sdp": "v=0\r\n", "call-id": "a:b", "flags": []any{"x"}, "n": int64(3)}
	if !reflect.DeepEqual(v, back) {
		t.Fatalf("Decode = %#v, want %#v", v, back)
	}
	for _, bad := range []string{"", "d3:abc", "5:ab", "i12", "l1:a", "x"} {
		if _, _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%q) took it", bad)
		}
	}
}
