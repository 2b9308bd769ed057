from minicvm.cli import main

main()
