from diarize.cli import main

main()
