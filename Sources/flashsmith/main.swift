import FlashsmithCLI

Flashsmith.runMain()
