import Board
import FlashsmithCore
import BootImage
import DeviceTree
import Disk
import Flash
import RootFS
import UBootEnv

/// The table behind `flashsmith inspect`: every format that can recognise itself, tried in order.
/// A new format adds one line here.
let registeredFormats: [any InspectableFormat.Type] = [
    UImageFormat.self,
    FITFormat.self,
    DTBFormat.self,
    EnvFormat.self,
    RootFSArchiveFormat.self,
    UBIFormat.self,
    UBIFSFormat.self,
    NANDRawFormat.self,
    GPTFormat.self,
    MBRFormat.self,
    FilesystemImageFormat.self,
    FlashImageFormat.self,
]
