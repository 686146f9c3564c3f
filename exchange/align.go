package exchange

import "unsafe"

// dataAlign is the memory alignment received piece data gets: the blockstore and the output
// file write aligned data with O_DIRECT straight from our buffer (anything else would be
// copied into an aligned one first; 256 KiB per piece).
const dataAlign = 4096

// alignedAt returns the offset into b at which a frame whose piece data starts hdr bytes in
// must begin for that data to be dataAlign-aligned. b has dataAlign bytes of slack.
func alignedAt(b []byte, hdr int) int {
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b))) + uintptr(hdr)
	return int((dataAlign - addr%dataAlign) % dataAlign)
}

// isAligned reports whether b starts at a dataAlign boundary.
func isAligned(b []byte) bool {
	return len(b) > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%dataAlign == 0
}
