import CArchive
import CFDT
import CMTD
import Foundation
import MTD
import Testing
import TestSupport

/// The C module targets link and behave as SWIFT-C-WRAPPING.md says; the later issues' wrappers
/// (Archive, DeviceTree) build on exactly these calls.
@Suite struct CModulesTests {
    @Test func libarchiveWritesNewcCpio() throws {
        #expect(archive_version_number() >= 3_006_000)
        let a = try #require(archive_write_new())
        defer { archive_write_free(a) }
        #expect(archive_write_set_format_cpio_newc(a) == ARCHIVE_OK)
        var buffer = [UInt8](repeating: 0, count: 4096)
        var used = 0
        let rc = buffer.withUnsafeMutableBytes { archive_write_open_memory(a, $0.baseAddress, $0.count, &used) }
        #expect(rc == ARCHIVE_OK)
        let e = try #require(archive_entry_new())
        defer { archive_entry_free(e) }
        archive_entry_set_pathname(e, "hello")
        archive_entry_set_filetype(e, flashsmith_ae_ifreg())
        archive_entry_set_perm(e, 0o644)
        archive_entry_set_size(e, 2)
        #expect(archive_write_header(a, e) == ARCHIVE_OK)
        #expect(archive_write_data(a, "hi", 2) == 2)
        #expect(archive_write_close(a) == ARCHIVE_OK)
        #expect(String(decoding: buffer[0..<6], as: UTF8.self) == "070701")
        #expect(used > 110)
    }

    @Test func libfdtBuildsATreeThatDtcReads() throws {
        var blob = [UInt8](repeating: 0, count: 1024)
        blob.withUnsafeMutableBytes { p in
            let fdt = p.baseAddress!
            #expect(fdt_create(fdt, Int32(p.count)) == 0)
            #expect(fdt_finish_reservemap(fdt) == 0)
            #expect(fdt_begin_node(fdt, "") == 0)
            #expect(fdt_property_u32(fdt, "#address-cells", 1) == 0)
            #expect(fdt_end_node(fdt) == 0)
            #expect(fdt_finish(fdt) == 0)
            #expect(flashsmith_fdt_magic(fdt) == 0xD00D_FEED)
            #expect(fdt_check_header(fdt) == 0)
        }
        guard toolsAvailable("dtc") else { return }
        let dir = try TempDir()
        let size = blob.withUnsafeBytes { Int(flashsmith_fdt_totalsize($0.baseAddress!)) }
        let f = try dir.write("t.dtb", Array(blob[0..<size]))
        let r = try run("dtc", ["-I", "dtb", "-O", "dts", f])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("#address-cells = <0x01>;"))
    }

    @Test func libmtdSaysNotPresentOrOpens() throws {
        errno = 0
        if let d = libmtd_open() {
            libmtd_close(d)
        } else {
            // libmtd.h: NULL with errno 0 means the system has no MTD subsystem.
            #expect(errno == 0)
        }
        // A character device that is not MTD is not taken for one.
        let opened = try MTDDevice.openIfMTD("/dev/null", writable: false)
        #expect(opened == nil)
    }
}
