package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The keys, as its example writes them, and their defaults.
func TestEchoFaxGainKeys(t *testing.T) {
	d := Default()
	if b := d.Board; b.SimEchoERL != 0 || b.SimEchoModel != 1 || b.SimEchoDelay.D() != 0 {
		t.Errorf("[board] sim_echo defaults %v %v %v", b.SimEchoERL, b.SimEchoModel, b.SimEchoDelay)
	}
	if p := d.Phone; !p.EchoCanceller || p.EchoTail.D() != 64*time.Millisecond || p.FaxMode != "passthrough" ||
		p.FaxJitter.D() != 60*time.Millisecond || p.TxGainDB != 0 || p.RxGainDB != 0 {
		t.Errorf("[phone] defaults %+v", p)
	}
	if b := Builtin(); b.Phone.EchoTail != d.Phone.EchoTail || b.Phone.FaxMode != d.Phone.FaxMode || b.Board.SimEchoModel != 1 {
		t.Errorf("built-in defaults differ from default.toml: %+v", b.Phone)
	}
	c, err := Parse("ata.toml", []byte(`[board]
sim_echo_erl = 6
sim_echo_model = 4
sim_echo_delay = "20ms"
[phone]
echo_canceller = false
echo_tail = "128ms"
fax_mode = "off"
fax_jitter = "100ms"
tx_gain_db = -3
rx_gain_db = 4.5
`))
	if err != nil {
		t.Fatal(err)
	}
	if b := c.Board; b.SimEchoERL != 6 || b.SimEchoModel != 4 || b.SimEchoDelay.D() != 20*time.Millisecond {
		t.Errorf("[board] %+v", b)
	}
	if p := c.Phone; p.EchoCanceller || p.EchoTail.D() != 128*time.Millisecond || p.FaxMode != "off" ||
		p.FaxJitter.D() != 100*time.Millisecond || p.TxGainDB != -3 || p.RxGainDB != 4.5 {
		t.Errorf("[phone] %+v", p)
	}
}

func TestEchoFaxGainKeysChecked(t *testing.T) {
	for _, c := range []struct{ key, toml string }{
		{"board.sim_echo_erl", "[board]\nsim_echo_erl = -1\n"},
		{"board.sim_echo_erl", "[board]\nsim_echo_erl = 61\n"},
		{"board.sim_echo_model", "[board]\nsim_echo_model = 0\n"},
		{"board.sim_echo_model", "[board]\nsim_echo_model = 9\n"},
		{"board.sim_echo_delay", "[board]\nsim_echo_delay = \"61ms\"\n"},
		{"board.sim_echo_delay", "[board]\nsim_echo_delay = \"-1ms\"\n"},
		{"phone.echo_tail", "[phone]\necho_tail = \"8ms\"\n"},
		{"phone.echo_tail", "[phone]\necho_tail = \"129ms\"\n"},
		{"phone.fax_mode", "[phone]\nfax_mode = \"t38\"\n"},
		{"phone.fax_jitter", "[phone]\nfax_jitter = \"10ms\"\n"},
		{"phone.fax_jitter", "[phone]\nfax_jitter = \"201ms\"\n"},
		{"phone.tx_gain_db", "[phone]\ntx_gain_db = 12.5\n"},
		{"phone.rx_gain_db", "[phone]\nrx_gain_db = -13\n"},
		{"phone.rx_gain_db", "[phone]\nrx_gain_db = nan\n"},
	} {
		_, err := Parse("ata.toml", []byte(c.toml))
		var ke *KeyError
		if err == nil || !strings.Contains(err.Error(), c.key) || !errors.As(err, &ke) {
			t.Errorf("%q: %v, want a KeyError naming %s", c.toml, err, c.key)
		}
	}
	// The edges are allowed.
	for _, ok := range []string{
		"[board]\nsim_echo_erl = 60\nsim_echo_model = 8\nsim_echo_delay = \"60ms\"\n",
		"[phone]\necho_tail = \"16ms\"\nfax_jitter = \"20ms\"\ntx_gain_db = -12\nrx_gain_db = 12\n",
		"[phone]\necho_tail = \"128ms\"\nfax_jitter = \"200ms\"\n",
	} {
		if _, err := Parse("ata.toml", []byte(ok)); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}
