from memoguard.cli import main

main()
