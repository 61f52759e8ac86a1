package sdp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"
)

// key30 is a 30-byte AES-CM key and salt; key28 a 28-byte AES-GCM one.
var (
	key30 = []byte("0123456789abcdefghijklmnopqrst")
	key28 = []byte("0123456789abcdefghijklmnopqr")
	b64   = base64.StdEncoding.EncodeToString
)

func TestParseCrypto(t *testing.T) {
	k30 := b64(key30)
	for _, tc := range []struct {
		in    string
		tag   int
		suite Suite
		key   []byte
		mki   string
	}{
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30, 1, AESCM128HMACSHA180, key30, ""},
		{"2 AES_CM_128_HMAC_SHA1_32 inline:" + k30 + "|2^31", 2, AESCM128HMACSHA132, key30, ""},
		{"3 AEAD_AES_128_GCM inline:" + b64(key28), 3, AEADAES128GCM, key28, ""},
		{"3 AEAD_AES_128_GCM inline:" + strings.TrimRight(b64(key28), "="), 3, AEADAES128GCM, key28, ""},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30 + "|2^20|1:4", 1, AESCM128HMACSHA180, key30, "\x00\x00\x00\x01"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30 + "|258:2", 1, AESCM128HMACSHA180, key30, "\x01\x02"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30 + "|1048576", 1, AESCM128HMACSHA180, key30, ""},
		{"1   AES_CM_128_HMAC_SHA1_80\tinline:" + k30 + " WSH=64 KDR=0 FEC_ORDER=FEC_SRTP -FOO=1", 1, AESCM128HMACSHA180, key30, ""},
	} {
		c, err := ParseCrypto(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if c.Tag != tc.tag || c.Suite != tc.suite || !bytes.Equal(c.Key.Bytes(), tc.key) || c.MKI != tc.mki {
			t.Errorf("%q: tag %d suite %s MKI %x, key right: %v", tc.in, c.Tag, c.Suite, c.MKI, bytes.Equal(c.Key.Bytes(), tc.key))
		}
	}
	for _, tc := range []struct{ in, why string }{
		{"", "fields"},
		{"1 AES_CM_128_HMAC_SHA1_80", "fields"},
		{"x AES_CM_128_HMAC_SHA1_80 inline:" + k30, "tag"},
		{"1234567890 AES_CM_128_HMAC_SHA1_80 inline:" + k30, "tag"},
		{"1 F8_128_HMAC_SHA1_80 inline:" + k30, "not supported"},
		{"1 AES_256_CM_HMAC_SHA1_80 inline:" + k30, "not supported"},
		{"1 AES_CM_128_HMAC_SHA1_80 uri:" + k30, "inline"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:!!!" + k30, "base64"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + b64(key28), "28 bytes"},
		{"1 AEAD_AES_128_GCM inline:" + k30, "30 bytes"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30 + "|2^31|1:4;inline:" + k30 + "|2^31|2:4", "several keys"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30 + "|2^10", "lifetime"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30 + "|2^99", "lifetime"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30 + "|forever", "lifetime"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30 + "|1:4|2^31", "lifetime after"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30 + "|1:0", "MKI length"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30 + "|1:16", "MKI of 16"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30 + "|256:1", "does not fit"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30 + "|a|b|c", "too many"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30 + " UNENCRYPTED_SRTP", "UNENCRYPTED_SRTP"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30 + " UNENCRYPTED_SRTCP", "UNENCRYPTED_SRTCP"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30 + " UNAUTHENTICATED_SRTP", "UNAUTHENTICATED"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30 + " KDR=4", "key derivation rate"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30 + " KDR=x", "KDR"},
		{"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30 + " NEWTHING=1", "unknown mandatory"},
	} {
		_, err := ParseCrypto(tc.in)
		if err == nil || !errors.Is(err, ErrCrypto) || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%q: error %v, want one naming %q", tc.in, err, tc.why)
			continue
		}
		if strings.Contains(err.Error(), k30[:20]) {
			t.Errorf("%q: the error quotes the key: %v", tc.in, err)
		}
	}
}

// The key never prints: not through fmt, not through log/slog (text or
// JSON), not inside the structures that carry it.
func TestKeysNeverPrint(t *testing.T) {
	cs, err := NewCryptos()
	if err != nil {
		t.Fatal(err)
	}
	k, _ := NewKey(key30)
	m := Media{SRTP: SRTP{Suite: AESCM128HMACSHA180, Tag: 1, Local: cs[0].Key, Remote: k}}
	var out bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&out, nil), slog.NewJSONHandler(&out, nil)} {
		log := slog.New(h)
		log.Info("call", "crypto", cs[0], "cryptos", cs, "key", cs[0].Key, "srtp", m.SRTP, "media", m, "local", Local{Crypto: cs})
	}
	for _, v := range []any{cs[0], cs, cs[0].Key, m.SRTP, &m.SRTP, m, &m, Local{Crypto: cs}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d", "%T"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
	}
	j, _ := json.Marshal(m.SRTP)
	out.Write(j)
	got := out.String()
	if !strings.Contains(got, redacted) {
		t.Fatalf("no redaction mark in:\n%s", got)
	}
	for _, k := range [][]byte{cs[0].Key.Bytes(), cs[1].Key.Bytes(), cs[2].Key.Bytes(), key30} {
		for _, form := range []string{b64(k), fmt.Sprintf("%x", k), fmt.Sprint(k)[1:20], string(k), fmt.Sprint(k[:4])[1:]} {
			if strings.Contains(got, form) {
				t.Fatalf("a key shows as %q in:\n%s", form, got)
			}
		}
	}
}

func TestNewCryptosAreFreshPerCall(t *testing.T) {
	a, err := NewCryptos()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewCryptos()
	if len(a) != 3 {
		t.Fatalf("%d keys, want one per suite", len(a))
	}
	for i := range a {
		if a[i].Tag != i+1 || a[i].Key.Len() != a[i].Suite.KeyLen() || a[i].Key == b[i].Key {
			t.Fatalf("key %d: tag %d suite %s len %d, same as another call's: %v", i, a[i].Tag, a[i].Suite, a[i].Key.Len(), a[i].Key == b[i].Key)
		}
	}
}

func srtpLocal(t *testing.T, p SRTPPolicy) Local {
	t.Helper()
	l := local
	l.SRTP = p
	var err error
	if l.Crypto, err = NewCryptos(); err != nil {
		t.Fatal(err)
	}
	return l
}

// Optional SRTP offers RTP/AVP with keys (a peer without SRTP ignores
// them), mandatory RTP/SAVP; off offers no keys. AES-GCM is taken, not
// offered.
func TestOfferSRTP(t *testing.T) {
	for _, tc := range []struct {
		p      SRTPPolicy
		mline  string
		crypto int
	}{{SRTPOff, "m=audio 40000 RTP/AVP ", 0}, {SRTPOptional, "m=audio 40000 RTP/AVP ", 2}, {SRTPMandatory, "m=audio 40000 RTP/SAVP ", 2}} {
		l := srtpLocal(t, tc.p)
		b, err := Offer(l)
		if err != nil {
			t.Fatal(err)
		}
		got := string(b)
		if !strings.Contains(got, tc.mline) || strings.Count(got, "a=crypto:") != tc.crypto {
			t.Errorf("%s: offer\n%s", tc.p, got)
		}
		if tc.crypto > 0 {
			for _, want := range []string{
				"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + b64(l.Crypto[0].Key.Bytes()) + "\r\n",
				"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:" + b64(l.Crypto[1].Key.Bytes()) + "\r\n",
			} {
				if !strings.Contains(got, want) {
					t.Errorf("%s: offer lacks %q:\n%s", tc.p, want, got)
				}
			}
		}
	}
	l := local
	l.SRTP = SRTPMandatory
	if _, err := Offer(l); err == nil {
		t.Error("an SRTP offer without keys was written")
	}
}

// remoteSDP is a peer's SDP with the given profile and crypto lines.
func remoteSDP(proto string, crypto ...string) []byte {
	s := "v=0\no=- 1 1 IN IP4 203.0.113.5\ns=-\nc=IN IP4 203.0.113.5\nt=0 0\nm=audio 5000 " + proto + " 0 101\na=rtpmap:101 telephone-event/8000\n"
	for _, c := range crypto {
		s += "a=crypto:" + c + "\n"
	}
	return crlf(s)
}

// An offer's first usable crypto (the offerer's preference) is taken; our
// answer repeats its tag and suite with our own key, on the offer's
// profile.
func TestNegotiateSRTPOffer(t *testing.T) {
	k30 := b64(key30)
	for _, p := range []SRTPPolicy{SRTPOptional, SRTPMandatory} {
		for _, proto := range []string{"RTP/SAVP", "RTP/AVP"} {
			l := srtpLocal(t, p)
			offer := remoteSDP(proto, "7 F8_128_HMAC_SHA1_80 inline:"+k30, "8 AES_CM_128_HMAC_SHA1_32 inline:"+k30, "9 AES_CM_128_HMAC_SHA1_80 inline:"+k30)
			m, err := Negotiate(l, offer)
			if err != nil {
				t.Fatalf("%s %s: %v", p, proto, err)
			}
			if !m.SRTP.On() || m.SRTP.Tag != 8 || m.SRTP.Suite != AESCM128HMACSHA132 || !bytes.Equal(m.SRTP.Remote.Bytes(), key30) ||
				m.SRTP.Local != l.Crypto[1].Key || m.SAVP != (proto == "RTP/SAVP") {
				t.Fatalf("%s %s: negotiated %+v SAVP %v", p, proto, m.SRTP, m.SAVP)
			}
			ans, err := Answer(l, m)
			if err != nil {
				t.Fatal(err)
			}
			got := string(ans)
			want := "a=crypto:8 AES_CM_128_HMAC_SHA1_32 inline:" + b64(l.Crypto[1].Key.Bytes()) + "\r\n"
			if !strings.Contains(got, "m=audio 40000 "+proto+" 0 101\r\n") || !strings.Contains(got, want) || strings.Count(got, "a=crypto") != 1 {
				t.Fatalf("%s %s: answer\n%s", p, proto, got)
			}
		}
	}
	// AES-GCM where the peer offers it.
	l := srtpLocal(t, SRTPMandatory)
	m, err := Negotiate(l, remoteSDP("RTP/SAVP", "1 AEAD_AES_128_GCM inline:"+b64(key28)))
	if err != nil || !m.SRTP.On() || m.SRTP.Suite != AEADAES128GCM || m.SRTP.Local != l.Crypto[2].Key {
		t.Fatalf("GCM offer: %+v, %v", m.SRTP, err)
	}
}

// What each policy does with offers and answers without a usable key.
func TestNegotiateSRTPPolicy(t *testing.T) {
	k30 := b64(key30)
	plain := remoteSDP("RTP/AVP")
	savpNoKey := remoteSDP("RTP/SAVP")
	savpBadKey := remoteSDP("RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+k30+" UNENCRYPTED_SRTP")
	avpKey := remoteSDP("RTP/AVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+k30)
	for _, tc := range []struct {
		p      SRTPPolicy
		remote []byte
		want   error
		srtp   bool
	}{
		{SRTPOff, plain, nil, false},
		{SRTPOff, avpKey, nil, false}, // keys ignored: plain RTP
		{SRTPOff, savpNoKey, ErrNoAudio, false},
		{SRTPOptional, plain, nil, false}, // falls back to plain RTP
		{SRTPOptional, avpKey, nil, true},
		{SRTPOptional, savpNoKey, ErrNoCrypto, false},
		{SRTPOptional, savpBadKey, ErrNoCrypto, false},
		{SRTPMandatory, plain, ErrNoCrypto, false},
		{SRTPMandatory, savpBadKey, ErrNoCrypto, false},
		{SRTPMandatory, avpKey, nil, true},
	} {
		l := srtpLocal(t, tc.p)
		m, err := Negotiate(l, tc.remote)
		if !errors.Is(err, tc.want) || (err == nil && m.SRTP.On() != tc.srtp) {
			t.Errorf("%s with\n%s: %v, SRTP %v; want %v, SRTP %v", tc.p, tc.remote, err, m.SRTP.On(), tc.want, tc.srtp)
		}
		if errors.Is(err, ErrNoCrypto) && tc.remote[0] != 0 && strings.Contains(string(tc.remote), "UNENCRYPTED") && !strings.Contains(err.Error(), "UNENCRYPTED_SRTP") {
			t.Errorf("the error does not say why the key was unusable: %v", err)
		}
		if err == nil && !tc.srtp {
			ans, _ := Answer(l, m)
			if strings.Contains(string(ans), "a=crypto") || strings.Contains(string(ans), "SAVP") {
				t.Errorf("%s: a plain answer with SRTP in it:\n%s", tc.p, ans)
			}
		}
	}
}

// Two of us: an offer with keys, negotiated by an answerer with keys of
// its own, and the answer negotiated back: each side's sending key is
// the other's receiving key.
func TestSRTPOfferAnswerRoundTrip(t *testing.T) {
	for _, p := range []SRTPPolicy{SRTPOptional, SRTPMandatory} {
		a, b := srtpLocal(t, p), srtpLocal(t, SRTPMandatory)
		offer, err := Offer(a)
		if err != nil {
			t.Fatal(err)
		}
		mb, err := Negotiate(b, offer)
		if err != nil {
			t.Fatal(err)
		}
		ans, err := Answer(b, mb)
		if err != nil {
			t.Fatal(err)
		}
		ma, err := Negotiate(a, ans)
		if err != nil {
			t.Fatal(err)
		}
		if !ma.SRTP.On() || !mb.SRTP.On() || ma.SRTP.Suite != AESCM128HMACSHA180 || mb.SRTP.Suite != ma.SRTP.Suite ||
			ma.SRTP.Local != mb.SRTP.Remote || ma.SRTP.Remote != mb.SRTP.Local || ma.SRTP.Local == ma.SRTP.Remote {
			t.Fatalf("%s: keys do not cross: %+v / %+v", p, ma.SRTP, mb.SRTP)
		}
	}
}

// FuzzParseCrypto: whatever parses is one of our suites with a key of the
// right length, writes back as an attribute that parses to the same, and
// no error quotes more than a clip of the input.
func FuzzParseCrypto(f *testing.F) {
	k30 := b64(key30)
	for _, s := range []string{
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30,
		"2 AES_CM_128_HMAC_SHA1_32 inline:" + k30 + "|2^31|1:4 WSH=64",
		"3 AEAD_AES_128_GCM inline:" + b64(key28),
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30 + "|2^31|1:4;inline:" + k30 + "|2^31|2:4",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + k30 + " KDR=0 UNENCRYPTED_SRTP -X",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		c, err := ParseCrypto(v)
		if err != nil {
			if !errors.Is(err, ErrCrypto) {
				t.Fatalf("error %v does not wrap ErrCrypto", err)
			}
			if len(err.Error()) > 400 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		if _, ok := suiteNames[c.Suite]; !ok || c.Key.Len() != c.Suite.KeyLen() || c.Tag < 0 || len(c.MKI) > maxMKILen {
			t.Fatalf("accepted %q as %+v", v, c)
		}
		back, err := ParseCrypto(c.Attribute())
		if err != nil || back.Tag != c.Tag || back.Suite != c.Suite || back.Key != c.Key {
			t.Fatalf("%q writes back as %q: %+v, %v", v, c.Attribute(), back, err)
		}
		if !utf8.ValidString(c.Attribute()) {
			t.Fatalf("attribute %q", c.Attribute())
		}
	})
}

// FuzzNegotiateSRTP feeds remote SDP to an SRTP line's Negotiate: what
// it accepts over RTP/SAVP or on a mandatory line has a key of one of our
// suites; our answer to it negotiates back to the same suite and tag.
func FuzzNegotiateSRTP(f *testing.F) {
	k30 := b64(key30)
	f.Add(string(remoteSDP("RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+k30)), false)
	f.Add(string(remoteSDP("RTP/AVP", "9 AES_CM_128_HMAC_SHA1_32 inline:"+k30+"|2^31|1:4", "2 AEAD_AES_128_GCM inline:"+b64(key28))), true)
	f.Add(string(remoteSDP("RTP/SAVPF", "1 F8_128_HMAC_SHA1_80 inline:"+k30, "3 AES_CM_128_HMAC_SHA1_80 inline:"+k30+" KDR=0")), false)
	f.Add(string(remoteSDP("RTP/AVP")), true)
	cs, err := NewCryptos()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, remote string, mandatory bool) {
		l := local
		l.SRTP, l.Crypto = SRTPOptional, cs
		if mandatory {
			l.SRTP = SRTPMandatory
		}
		m, err := Negotiate(l, []byte(remote))
		if err != nil {
			return
		}
		if (m.SAVP || mandatory) && !m.SRTP.On() {
			t.Fatalf("accepted without a key: SAVP %v, mandatory %v", m.SAVP, mandatory)
		}
		if m.SRTP.On() {
			if ours, ok := l.keyFor(m.SRTP.Suite); !ok || ours.Key != m.SRTP.Local || m.SRTP.Remote.Len() != m.SRTP.Suite.KeyLen() {
				t.Fatalf("negotiated %s without our key of it, or a short remote key", m.SRTP.Suite)
			}
		}
		ans, err := Answer(l, m)
		if err != nil {
			t.Fatalf("answer: %v", err)
		}
		back, err := Negotiate(l, ans)
		if err != nil {
			t.Fatalf("our answer does not negotiate: %v\n%s", err, ans)
		}
		if back.SRTP.Suite != m.SRTP.Suite || back.SRTP.Tag != m.SRTP.Tag || back.SAVP != (m.SAVP && m.SRTP.On()) {
			t.Fatalf("answer renegotiates to %s tag %d SAVP %v, want %s tag %d\n%s", back.SRTP.Suite, back.SRTP.Tag, back.SAVP, m.SRTP.Suite, m.SRTP.Tag, ans)
		}
	})
}
