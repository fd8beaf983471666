from enrichment.app import main

main()
