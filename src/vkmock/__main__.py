from vkmock.cli import main

main()
