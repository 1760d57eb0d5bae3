/* ProcessPrng for Wine 8 (Debian 12), which lacks bcryptprimitives.dll: Rust's standard
 * library takes its random bytes from it on Windows (for HashMap keys, among others), so
 * no Rust program starts there without it. This stand-in is built by .ci/run with
 * mingw-w64 into the test-only Wine prefix; it draws on RtlGenRandom, which Wine has.
 * It is never part of the crate. */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
