package baresiptest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// Messages as baresip 1.0.0's ctrl_tcp sent them.
var capturedMessages = []string{
	`{"event":true,"type":"CALL_INCOMING","class":"call","accountaor":"sip:b@127.0.0.1","direction":"incoming","peeruri":"sip:a@127.0.0.1","peerdisplayname":"Alice Smith","id":"25c0b3a2dc3009b0","param":"sip:a@127.0.0.1"}`,
	`{"event":true,"type":"CALL_CLOSED","class":"call","accountaor":"sip:a@127.0.0.1","direction":"outgoing","peeruri":"sip:b@127.0.0.1:25062","id":"25c0b3a2dc3009b0","param":"486 Rejected"}`,
	`{"event":true,"type":"CALL_DTMF_START","class":"call","accountaor":"sip:b@127.0.0.1","direction":"incoming","peeruri":"sip:a@127.0.0.1","id":"4bd35929476abebf","param":"#"}`,
	`{"response":true,"ok":false,"data":"command not found (1)\n","token":"1"}`,
}

func TestReadNetstringAndEvents(t *testing.T) {
	var stream []byte
	for _, m := range capturedMessages {
		stream = appendNetstring(stream, []byte(m))
	}
	r := bufio.NewReader(bytes.NewReader(stream))
	var got []message
	for {
		b, err := readNetstring(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		m, err := parseMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	if len(got) != 4 {
		t.Fatalf("read %d messages, want 4", len(got))
	}
	in := got[0].toEvent(0)
	if in.Kind != Incoming || in.Number != "a" || in.PeerName != "Alice Smith" || in.CallID != "25c0b3a2dc3009b0" {
		t.Errorf("incoming: %+v", in)
	}
	if c := got[1].toEvent(0); c.Kind != Closed || c.Status != 486 || c.Number != "b" {
		t.Errorf("closed: %+v", c)
	}
	if d := got[2].toEvent(0); d.Kind != DTMF || d.Param != "#" {
		t.Errorf("dtmf: %+v", d)
	}
	if r := got[3]; !r.Response || r.OK || r.Token != "1" {
		t.Errorf("response: %+v", r)
	}
}

func TestReadNetstringRejects(t *testing.T) {
	for _, in := range []string{"", "x:", ":,", "05:hello,", "5:hello;", "1234567:", "3:ab", "99999999999999999999:"} {
		if b, err := readNetstring(bufio.NewReader(bytes.NewReader([]byte(in)))); err == nil {
			t.Errorf("%q: read %q, want an error", in, b)
		}
	}
	if _, err := parseMessage([]byte(`{"ok":true}`)); err == nil {
		t.Error("a message that is neither event nor response was accepted")
	}
}

func TestURIUserAndStatus(t *testing.T) {
	for uri, want := range map[string]string{
		"sip:1001@127.0.0.1:5060": "1001", "<sips:alice@x;transport=udp>": "alice",
		"sip:bob;p=1@x": "bob", "sip:u:pw@x": "u", "sip:127.0.0.1": "", "": "",
	} {
		if got := uriUser(uri); got != want {
			t.Errorf("uriUser(%q) = %q, want %q", uri, got, want)
		}
	}
	for s, want := range map[string]int{
		"486 Rejected": 486, "404": 404, "Connection reset by peer": 0, "4861 x": 0, "099 x": 0, "end of file": 0,
	} {
		if got := leadingStatus(s); got != want {
			t.Errorf("leadingStatus(%q) = %d, want %d", s, got, want)
		}
	}
}

// FuzzControlStream feeds arbitrary bytes to the ctrl_tcp reader: no
// panics, and every frame it accepts re-encodes to the bytes it consumed.
func FuzzControlStream(f *testing.F) {
	for _, m := range capturedMessages {
		f.Add(appendNetstring(nil, []byte(m)))
	}
	f.Add([]byte("2:{},0:,"))
	f.Add([]byte("65536:"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		consumed := 0
		for {
			b, err := readNetstring(r)
			if err != nil {
				return
			}
			frame := appendNetstring(nil, b)
			if !bytes.Equal(frame, data[consumed:consumed+len(frame)]) {
				t.Fatalf("frame %q is not the input at %d", frame, consumed)
			}
			consumed += len(frame)
			if m, err := parseMessage(b); err == nil && m.Event {
				ev := m.toEvent(0)
				if ev.Status != 0 && (ev.Status < 100 || ev.Status > 699) {
					t.Fatalf("status %d from %q", ev.Status, m.Param)
				}
			}
		}
	})
}
