/// The layout as an SVG: the chip as a bar, one box per partition (width by size, with a minimum so
/// small partitions stay readable), labels with name, offset and size.
public enum BoardSVG {
    public static func draw(_ b: BoardLayout) -> String {
        let width = 960.0, left = 20.0, barTop = 50.0, barHeight = 60.0
        let minBox = 70.0
        let usable = width - 2 * left - minBox * Double(b.partitions.count)
        var x = left
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="170" font-family="monospace" font-size="11">
            <text x="\(left)" y="24" font-size="14">\(escape(b.name)): \(b.flash.chipSize >> 20) MiB NAND, \(b.flash.pageSize)+\(b.flash.oobSize) pages, \(b.flash.eraseBlockSize >> 10) KiB blocks</text>

            """
        let colours = ["#8ecae6", "#ffb703", "#90be6d", "#f4a261", "#cdb4db", "#e9c46a"]
        for (i, p) in b.partitions.enumerated() {
            let w = minBox + usable * Double(p.size) / Double(b.flash.chipSize)
            s += "<rect x=\"\(f(x))\" y=\"\(barTop)\" width=\"\(f(w))\" height=\"\(barHeight)\" fill=\"\(colours[i % colours.count])\" stroke=\"#333\"/>\n"
            s += "<text x=\"\(f(x + 4))\" y=\"\(barTop + 20)\">\(escape(p.name))\(p.readOnly ? " (ro)" : "")</text>\n"
            s += "<text x=\"\(f(x + 4))\" y=\"\(barTop + 36)\">mtd\(i)</text>\n"
            s += "<text x=\"\(f(x + 4))\" y=\"\(barTop + 52)\">\(sizeText(p.size))</text>\n"
            s += "<text x=\"\(f(x))\" y=\"\(barTop + barHeight + 16)\" font-size=\"9\">0x\(String(p.offset, radix: 16))</text>\n"
            x += w
        }
        s += "<text x=\"\(left)\" y=\"160\">\(escape(b.mtdparts))</text>\n</svg>\n"
        return s
    }

    static func f(_ v: Double) -> String { String(Int(v.rounded())) }

    static func sizeText(_ v: Int) -> String {
        if v % (1 << 20) == 0 { return "\(v >> 20) MiB" }
        return "\(v >> 10) KiB"
    }

    static func escape(_ s: String) -> String {
        var o = ""
        for c in s {
            switch c {
            case "<": o += "&lt;"
            case ">": o += "&gt;"
            case "&": o += "&amp;"
            case "\"": o += "&quot;"
            default: o.append(c)
            }
        }
        return o
    }
}
