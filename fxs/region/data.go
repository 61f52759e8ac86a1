package region

import (
	"fmt"

	"github.com/openata/ata/fxs/tone"
)

// Sources (cited per row below):
//   [A]   Asterisk configs/samples/indications.conf.sample; most European rows
//         cite the ITU's tones-0203 list, i.e. ITU-T E.180 Supplement 2.
//   [E]   E.180 Suppl. 2 country list as reproduced in PA1688 dialtone.txt.
//   [PTP] North American Precise Tone Plan levels (Telcordia GR-506), as in
//         the Zyxel IES-1248 and Mitel 3300 tone tables.
//   [BT]  "BT tones and announcements" (BT network supervisory tone table)
//         and the Zyxel IES-1248 UK profile for levels.
//   [FT]  France Télécom, "Sonneries, tonalités et numérotation sur les
//         lignes analogiques".
//   [CID] DTMF caller ID countries: "VoIP Voice and Fax Signal Processing"
//         §8.3 (FI, DK, IS, NL, IN, BE, SE, BR, TW...).
// Levels are dBm0 per frequency component; rows without "@" use the E.180
// style default of tone.DefaultLevel (-13 dBm0) because no national level
// was found.

// roh is the receiver off-hook (howler) tone. E.180 does not list one per
// country; this is the North American GR-506 tone that ATAs use everywhere.
// GR-506 sends it at +3 dBm0 per component, which four summed sines cannot
// reach in 16-bit G.711 without clipping: -9 dBm0 is the loudest that
// fits (4 × 8070 < 32767). Louder needs the SLIC's gain.
const roh = "1400+2060+2450+2600/100,0/100@-9"

// usStutter is the North American message-waiting dial tone [A].
const usStutter = "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100," +
	"!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440"

// euStutter is Asterisk's generic stutter for countries E.180 gives none.
func euStutter(f string) string {
	s := ""
	for range 6 {
		s += "!" + f + "/100,!0/100,"
	}
	return s + f
}

type row struct {
	code, name string
	tones      [NumKinds]string
	ring       string
	ringHz     float64
	callerID   string
}

var rows = []row{
	{code: "us", name: "United States", ring: "2,4", ringHz: 20, callerID: CallerIDBell202,
		tones: [NumKinds]string{
			Dial:            "350+440",                 // [A], -13 [PTP]
			Ringback:        "440+480/2000,0/4000@-19", // [A], level [PTP]
			Busy:            "480+620/500,0/500@-24",   // [A], level [PTP]
			Congestion:      "480+620/250,0/250@-24",   // [A], level [PTP]
			CallWaiting:     "440/300,0/10000",         // [A]
			StutterDial:     usStutter,                 // [A]
			ReceiverOffHook: roh,
		}},
	// Canada follows the North American precise tone plan (Asterisk has no
	// [ca]; it uses [us]).
	{code: "ca", name: "Canada", ring: "2,4", ringHz: 20, callerID: CallerIDBell202,
		tones: [NumKinds]string{
			Dial: "350+440", Ringback: "440+480/2000,0/4000@-19", Busy: "480+620/500,0/500@-24",
			Congestion: "480+620/250,0/250@-24", CallWaiting: "440/300,0/10000",
			StutterDial: usStutter, ReceiverOffHook: roh,
		}},
	// UK dial tone: 350+440 Hz per BT's own supervisory tone table and [A].
	// (The project's REFERENCE.md says 350+450 per SIN 350; no source found
	// says so, BT's table says 350+440.) Caller ID per BT SIN 227.
	{code: "uk", name: "United Kingdom", ring: "0.4,0.2,0.4,2", ringHz: 25, callerID: CallerIDETSIFSKDTAS,
		tones: [NumKinds]string{
			Dial:            "350+440@-20",                              // [BT]
			Ringback:        "400+450/400,0/200,400+450/400,0/2000@-18", // [A][BT]
			Busy:            "400/375,0/375@-18",                        // [A][BT]
			Congestion:      "400/400,0/350,400/225,0/525@-20",          // [A][BT] "path engaged"
			CallWaiting:     "400/100,0/4000@-18",                       // [A]
			StutterDial:     "350+440/750,440/750@-20",                  // [BT] special proceed: 350 pulsed, 440 steady
			ReceiverOffHook: roh,
		}},
	{code: "de", name: "Germany", ring: "1,4", ringHz: 25, callerID: CallerIDETSIFSK,
		tones: [NumKinds]string{
			Dial:       "425",             // [A][E]
			Ringback:   "425/1000,0/4000", // [A][E]
			Busy:       "425/480,0/480",   // [A][E] busy tone I
			Congestion: "425/240,0/240",   // [A][E] congestion tone I
			// [E]: 0.2 on 0.2 off 0.2 on 5.0 off, repeating; [A] plays five
			// rounds then stops. E.180 wins.
			CallWaiting:     "425/200,0/200,425/200,0/5000",
			StutterDial:     "425+400", // [A][E] special dial tone
			ReceiverOffHook: roh,
		}},
	// France: ringing current is 50 Hz on France Télécom lines (not verified
	// with a source here; most of Europe uses 25 Hz). Caller ID: FSK (Zyxel
	// Omni.Net country table); that it follows the first ring is assumed.
	{code: "fr", name: "France", ring: "1.5,3.5", ringHz: 50, callerID: CallerIDETSIFSK,
		tones: [NumKinds]string{
			Dial:            "440",                // [A]
			Ringback:        "440/1500,0/3500@-8", // [A]; level -8 ± 0.5 dBm0 [FT]
			Busy:            "440/500,0/500",      // [A]
			Congestion:      "440/250,0/250",      // [A] ("not specified")
			CallWaiting:     "440/300,0/10000",    // [A]
			StutterDial:     euStutter("440"),     // [A]
			ReceiverOffHook: roh,
		}},
	{code: "nl", name: "Netherlands", ring: "1,4", ringHz: 25, callerID: CallerIDDTMF, // [CID]
		tones: [NumKinds]string{
			Dial: "425", Ringback: "425/1000,0/4000", Busy: "425/500,0/500", // [A]
			Congestion: "425/250,0/250", CallWaiting: "425/500,0/9500", // [A]
			StutterDial: "425/500,0/50", ReceiverOffHook: roh, // [A]
		}},
	// Italy: the dial tone itself is cadenced ([A], and nemesis.lonestar's
	// dial tone table). Caller ID: Telecom Italia uses FSK; one older ATA
	// table lists DTMF. Not settled by a primary source.
	{code: "it", name: "Italy", ring: "1,4", ringHz: 25, callerID: CallerIDETSIFSK,
		tones: [NumKinds]string{
			Dial:            "425/200,0/200,425/600,0/1000",                // [A]
			Ringback:        "425/1000,0/4000",                             // [A]
			Busy:            "425/500,0/500",                               // [A]
			Congestion:      "425/200,0/200",                               // [A]
			CallWaiting:     "425/400,0/100,425/250,0/100,425/150,0/14000", // [A]
			StutterDial:     "470/400,425/400",                             // [A]
			ReceiverOffHook: roh,
		}},
	// Spain: caller ID FSK (Telefónica); one older ATA table lists DTMF.
	{code: "es", name: "Spain", ring: "1.5,3", ringHz: 25, callerID: CallerIDETSIFSK,
		tones: [NumKinds]string{
			Dial:            "425",                                       // [A]
			Ringback:        "425/1500,0/3000",                           // [A]
			Busy:            "425/200,0/200",                             // [A]
			Congestion:      "425/200,0/200,425/200,0/200,425/200,0/600", // [A]
			CallWaiting:     "425/175,0/175,425/175,0/3500",              // [A]
			StutterDial:     euStutter("425"),                            // [A] ("not specified")
			ReceiverOffHook: roh,
		}},
	// Australia (ACIF S002 via [A]). 413+438 is 425 Hz "modulated" by 25 Hz
	// written as two tones. Ringing 25 Hz. Telstra sends caller ID as FSK
	// before the first full ring (natcomm.com.au), i.e. after a short ring
	// burst; V.23 modulation is assumed (fxs/callerid's notes say Bell 202
	// is often used in Australia: unsettled).
	{code: "au", name: "Australia", ring: "0.4,0.2,0.4,2", ringHz: 25, callerID: CallerIDETSIFSK,
		tones: [NumKinds]string{
			Dial:     "413+438",                              // [A]
			Ringback: "413+438/400,0/200,413+438/400,0/2000", // [A]
			Busy:     "425/375,0/375",                        // [A]
			// [A] notes the second burst should be 10 dB lower; one level
			// per tone here.
			Congestion:      "425/375,0/375,420/375,0/375",
			CallWaiting:     "425/200,0/200,425/200,0/4400", // [A]
			StutterDial:     "413+438/100,0/40",             // [A]
			ReceiverOffHook: roh,
		}},
	// Japan: NTT ringback and call waiting are 400 Hz modulated by 16 Hz
	// (ringbacktone.net: 15-20 Hz modulation). [A] writes "400+15" and
	// "400+16", which adds an inaudible 15 Hz sine instead: a slip for '*'.
	// Ringing current 16 Hz. Caller ID is NTT's own procedure (a CAR ring
	// signal, the phone answers off hook, then V.23 FSK), which fxs/callerid
	// does not implement: none rather than a format NTT phones cannot read.
	{code: "jp", name: "Japan", ring: "1,2", ringHz: 16, callerID: CallerIDNone,
		tones: [NumKinds]string{
			Dial:            "400",                // [A]
			Ringback:        "400*16/1000,0/2000", // see above
			Busy:            "400/500,0/500",      // [A]
			Congestion:      "400/500,0/500",      // [A]
			CallWaiting:     "400*16/500,0/8000",  // see above
			StutterDial:     euStutter("400"),     // [A]
			ReceiverOffHook: roh,
		}},
	// Austria: 420 Hz per [A] (citing E.180 Suppl. 2). Caller ID method not
	// verified; FSK assumed.
	{code: "at", name: "Austria", ring: "1,5", ringHz: 25, callerID: CallerIDETSIFSK,
		tones: [NumKinds]string{
			Dial: "420", Ringback: "420/1000,0/5000", Busy: "420/400,0/400", // [A]
			Congestion: "420/200,0/200", CallWaiting: "420/40,0/1960", // [A]
			StutterDial: "380+420", ReceiverOffHook: roh, // [A]
		}},
	// Switzerland: caller ID FSK assumed (Swisscom); the Zyxel Omni.Net
	// table lists DTMF. Not settled by a primary source.
	{code: "ch", name: "Switzerland", ring: "1,4", ringHz: 25, callerID: CallerIDETSIFSK,
		tones: [NumKinds]string{
			Dial: "425", Ringback: "425/1000,0/4000", Busy: "425/500,0/500", // [A]
			Congestion: "425/200,0/200", CallWaiting: "425/200,0/200,425/200,0/4000", // [A]
			StutterDial: "425+340/1100,0/1100", ReceiverOffHook: roh, // [A]
		}},
	{code: "se", name: "Sweden", ring: "1,5", ringHz: 25, callerID: CallerIDDTMF, // [CID]
		tones: [NumKinds]string{
			Dial: "425", Ringback: "425/1000,0/5000", Busy: "425/250,0/250", // [A]
			Congestion: "425/250,0/750", CallWaiting: "425/200,0/500,425/200,0/9100", // [A]
			// [A] comments "425/320,0/20: real Swedish standard"; used here.
			StutterDial: "425/320,0/20", ReceiverOffHook: roh,
		}},
	{code: "dk", name: "Denmark", ring: "1,4", ringHz: 25, callerID: CallerIDDTMF, // [CID]
		tones: [NumKinds]string{
			Dial: "425", Ringback: "425/1000,0/4000", Busy: "425/500,0/500", // [A]
			Congestion: "425/200,0/200", // [A]
			// [A]: one round of bursts, then silence.
			CallWaiting: "!425/200,!0/600,!425/200,!0/3000,!425/200,!0/200,!425/200,0",
			StutterDial: "425/450,0/50", ReceiverOffHook: roh, // [A]
		}},
	{code: "be", name: "Belgium", ring: "1,3", ringHz: 25, callerID: CallerIDDTMF, // [CID]
		tones: [NumKinds]string{
			Dial: "425", Ringback: "425/1000,0/3000", Busy: "425/500,0/500", // [A]
			Congestion: "425/167,0/167", CallWaiting: "1400/175,0/175,1400/175,0/3500", // [A]
			StutterDial: "425/1000,0/250", ReceiverOffHook: roh, // [A]
		}},
	// India: dial and ringback are 400 Hz modulated by 25 Hz [A]. [A]'s
	// stutter mixes North American bursts with the Indian dial tone; kept.
	{code: "in", name: "India", ring: "0.4,0.2,0.4,2", ringHz: 25, callerID: CallerIDDTMF, // [CID]
		tones: [NumKinds]string{
			Dial:        "400*25",                             // [A]
			Ringback:    "400*25/400,0/200,400*25/400,0/2000", // [A]
			Busy:        "400/750,0/750",                      // [A]
			Congestion:  "400/250,0/250",                      // [A]
			CallWaiting: "400/200,0/100,400/200,0/7500",       // [A]
			StutterDial: "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100," +
				"!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,400*25", // [A]
			ReceiverOffHook: roh,
		}},
	// Brazil: [A] borrows 350+440 for the stutter tone ("not used in Brazil").
	{code: "br", name: "Brazil", ring: "1,4", ringHz: 25, callerID: CallerIDDTMF, // [CID]
		tones: [NumKinds]string{
			Dial: "425", Ringback: "425/1000,0/4000", Busy: "425/250,0/250", // [A]
			Congestion: "425/250,0/250,425/750,0/250", CallWaiting: "425/50,0/1000", // [A]
			StutterDial: "350+440", ReceiverOffHook: roh, // [A]
		}},
}

// confirmTone is the feature-code confirmation where a region defines
// none: three 100 ms beeps of 600 Hz (Cisco SPA's confirm tone), then the
// region's dial tone, so the person can go on dialling.
func confirmTone(dial string) string {
	return "!600/100,!0/100,!600/100,!0/100,!600/100,!0/100," + dial
}

var regions = func() map[string]*Region {
	m := make(map[string]*Region, len(rows))
	for _, r := range rows {
		reg := &Region{Code: r.code, Name: r.name, RingHz: r.ringHz, CallerID: r.callerID}
		if r.tones[Confirm] == "" {
			r.tones[Confirm] = confirmTone(r.tones[Dial])
		}
		for k, spec := range r.tones {
			t, err := tone.Parse(spec)
			if err != nil {
				panic(fmt.Sprintf("region %s %v: %v", r.code, Kind(k), err))
			}
			reg.Tones[k] = t
		}
		c, err := ParseCadence(r.ring)
		if err != nil {
			panic(fmt.Sprintf("region %s: %v", r.code, err))
		}
		reg.Ring = c
		m[r.code] = reg
	}
	return m
}()
